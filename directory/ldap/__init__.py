"""The LDAP adapter, one module per concern (anchored on canaille's backends/ldap/):

- ``mapping``: attribute names, object classes, the DN scheme, the field lists each use reads,
  and entry <-> domain object conversion. No other module spells an attribute or a DN.
- ``filters``: search filters, built with escaping only.
- ``config``: what the adapter is told (DirectoryConfig, the lockout).
- ``connections``: both client libraries' connections and the one mapping of their errors.
- ``accounts``, ``schools``, ``groups``, ``usernames``, ``passwords``: reads and writes per concern.
- ``upn_key``: the fingerprint of the UPN-hash key the stored hashes were made with.
- ``sign_in``: what the IdP uses, the one ``authenticate``.

``directory.store`` assembles them into the DirectoryStore the rest of Porth uses.
"""
