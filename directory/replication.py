"""What replication adds to a private slapd's cn=config (issue 17 point 1): pure, no I/O.

Three roles (PORTH_LDAP__EMBEDDED_ROLE):

- standalone: one server, today's configuration, nothing added.
- provider: one of several writable servers replicating to each other (OpenLDAP's
  multi-provider replication): its own olcServerID, the syncprov overlay so that others can
  replicate from it, one olcSyncrepl per other provider and olcMultiProvider.
- consumer: a read-only copy near the web nodes, for sign-ins. One olcSyncrepl per provider
  (each the consumer follows; one down, the others keep it current), olcUpdateRef naming the
  providers, and the chain overlay on the frontend so that a write sent to the consumer is done
  on a provider instead of being refused with a referral. The frontend, not the database:
  slapd answers a write to a replica with the referral in the frontend before any overlay of
  the database sees it, and ppolicy and lastbind send their own updates through the frontend
  too (slapo-ppolicy(5) ppolicy_forward_updates, slapo-lastbind(5) lastbind_forward_updates:
  "also requires the updateref setting and chain overlay"). Without olcPPolicyForwardUpdates
  and olcLastBindForwardUpdates a consumer writes a failed sign-in, a lock-out or the sign-in
  time (authTimestamp, which the 90-day inactivity rule L-3 reads) into its own copy only,
  where the next change replicated from a provider overwrites it.

The replication identity is Porth's service DN, the root DN every node is configured with
(docs/deployment.md, "Replication", says why no dedicated replicator DN): syncrepl must read every
attribute, the password hashes, reveal copies and UPN hashes Porth's ACLs hide from everyone
else included, with no size limit; the chain must write pwdFailureTime, pwdAccountLockedTime and
authTimestamp, which no user may modify (ppolicy sends them with the Relax control, so the
writer needs manage access), and assert other identities (proxied authorization). The root DN
may do all three without a new ACL, and every node already holds its password.

The chain asserts the client's own identity (mode=self), never its bind DN's: a write sent to a
consumer is checked on the provider with the rights of whoever sent it, so an anonymous or a
learner's connection to a consumer cannot write as Porth. ppolicy and lastbind write their
updates as the database's root DN, which the chain then asserts.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Literal

Role = Literal["standalone", "provider", "consumer"]
ROLES: tuple[Role, ...] = ("standalone", "provider", "consumer")

# A provider or a consumer that lost its provider tries again every second for half a minute
# (a restart), then every 5 seconds for as long as it takes (slapd-config(5) retry).
SYNCREPL_RETRY = "1 30 5 +"
SYNCREPL_TIMEOUT_SECONDS = 5  # connecting to and binding at a provider
# syncprov: the contextCSN is written every 100 writes or 10 minutes, and a session log of the
# last 10,000 changes lets a consumer that was away briefly catch up without a full refresh.
SYNCPROV_CHECKPOINT = "100 10"
SYNCPROV_SESSION_LOG = 10000
CHAIN_NETWORK_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class Replication:
    """A node's place in the replication: its role, its server id (a provider) and the
    providers it replicates from (a provider: the others; a consumer: all, nearest first)."""

    role: Role = "standalone"
    server_id: int | None = None
    providers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown replication role {self.role!r}")
        if self.role == "provider" and not self.server_id:
            raise ValueError("a provider needs a server id (1..4095)")
        if self.role == "consumer" and not self.providers:
            raise ValueError("a consumer needs at least one provider")

    @property
    def replicating(self) -> bool:
        return self.role != "standalone"

    @property
    def multi_provider(self) -> bool:
        """A provider with others to replicate from (a provider alone needs no syncrepl)."""
        return self.role == "provider" and bool(self.providers)


@dataclass(frozen=True)
class Identity:
    """Whom the node binds as at a provider: for syncrepl, and for the chain's writes."""

    dn: str
    password: str


def rid(position: int) -> str:
    """A syncrepl id (three digits) for the provider at this position of the list (0-based)."""
    return f"{position + 1:03d}"


def _quoted(value: str) -> str:
    """A value slapd's configuration parser reads back whole: in double quotes, backslash-escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def syncrepl_values(replication: Replication, suffix: str, identity: Identity) -> list[str]:
    """The olcSyncrepl values: one refreshAndPersist search of the whole suffix per provider."""
    return [
        f"{{{position}}}rid={rid(position)} provider={url} bindmethod=simple binddn={_quoted(identity.dn)} "
        f"credentials={_quoted(identity.password)} searchbase={_quoted(suffix)} type=refreshAndPersist "
        f'retry="{SYNCREPL_RETRY}" timeout={SYNCREPL_TIMEOUT_SECONDS} network-timeout={SYNCREPL_TIMEOUT_SECONDS}'
        for position, url in enumerate(replication.providers)
    ]


def chain_assertion(identity: Identity) -> str:
    """olcDbIDAssertBind of each chained provider: bind as Porth, assert the client (mode=self)."""
    return (f"bindmethod=simple binddn={_quoted(identity.dn)} credentials={_quoted(identity.password)} "
            "mode=self")


def syncrepl_settings(value: str) -> dict[str, str]:
    """`{0}rid=001 provider=ldap://x binddn="cn=a b" ...` -> {"rid": "001", "provider": ..., "binddn": "cn=a b"}:
    what Porth sets of a syncrepl value, comparable whatever order and quoting slapd stored it in."""
    found = {}
    for name, quoted, bare in re.findall(r'(\w[\w-]*)=(?:"((?:[^"\\]|\\.)*)"|(\S*))',
                                         re.sub(r"^\{\d+\}", "", value)):
        found[name.lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted else bare
    return found


def _line(name: str, value: str) -> str:
    """One LDIF attribute line; base64 (`name::`) when the value is not plain printable ASCII."""
    plain = all(" " <= ch <= "~" for ch in value) and not value.startswith((" ", ":", "<"))
    if plain:
        return f"{name}: {value}"
    return f"{name}:: {base64.b64encode(value.encode('utf-8')).decode('ascii')}"


def _lines(pairs: list[tuple[str, str]]) -> str:
    """Lines to append to an LDIF record of the template (each after a newline)."""
    return "".join("\n" + _line(name, value) for name, value in pairs)


CHAIN_OVERLAY_DN = "olcOverlay={0}chain,olcDatabase={-1}frontend,cn=config"


def chain_database_dn(position: int) -> str:
    return f"olcDatabase={{{position}}}ldap,{CHAIN_OVERLAY_DN}"


def chain_database_entry(url: str, identity: Identity) -> dict[str, list[str]]:
    """The chain overlay's back-ldap instance for one provider (olcDbURI holds exactly one URL)."""
    return {
        "objectClass": ["olcLDAPConfig", "olcChainDatabase"],
        "olcDbURI": [url],
        "olcDbIDAssertBind": [chain_assertion(identity)],
        "olcDbNetworkTimeout": [str(CHAIN_NETWORK_TIMEOUT_SECONDS)],
    }


def template_values(replication: Replication, suffix: str, identity: Identity, database_dn: str,
                    next_overlay: int) -> dict[str, str]:
    """The replication placeholders of config/ldap/slapd-config.ldif.in: lines appended to its
    records (empty for a standalone server) and the entries appended after them. `next_overlay`
    is the position after the database's own overlays, where syncprov goes (where an upgrade
    adds it too: add_missing_overlays appends)."""
    values = {"global_replication": "", "module_replication": "", "database_replication": "",
              "ppolicy_replication": "", "lastbind_replication": "", "replication_entries": ""}
    if replication.role == "provider":
        values["global_replication"] = _lines([("olcServerID", str(replication.server_id))])
        values["module_replication"] = _lines([("olcModuleLoad", "syncprov")])
        database = [("olcSyncrepl", value) for value in syncrepl_values(replication, suffix, identity)]
        if replication.multi_provider:
            database.append(("olcMultiProvider", "TRUE"))
        values["database_replication"] = _lines(database)
        values["replication_entries"] = "\n".join([
            "",
            "# Others replicate from this provider (syncprov); directory/replication.py says why each setting.",
            f"dn: olcOverlay={{{next_overlay}}}syncprov,{database_dn}",
            "objectClass: olcOverlayConfig",
            "objectClass: olcSyncProvConfig",
            f"olcOverlay: {{{next_overlay}}}syncprov",
            f"olcSpCheckpoint: {SYNCPROV_CHECKPOINT}",
            f"olcSpSessionLog: {SYNCPROV_SESSION_LOG}",
            "",
        ])
    elif replication.role == "consumer":
        # The chain overlay is part of back-ldap (slapo-chain(5)).
        values["module_replication"] = _lines([("olcModuleLoad", "back_ldap")])
        database = [("olcSyncrepl", value) for value in syncrepl_values(replication, suffix, identity)]
        database += [("olcUpdateRef", url) for url in replication.providers]
        values["database_replication"] = _lines(database)
        values["ppolicy_replication"] = _lines([("olcPPolicyForwardUpdates", "TRUE")])
        values["lastbind_replication"] = _lines([("olcLastBindForwardUpdates", "TRUE")])
        records = [
            "",
            "# Writes sent to this consumer (and ppolicy's and lastbind's own) are done on a provider.",
            f"dn: {CHAIN_OVERLAY_DN}",
            "objectClass: olcOverlayConfig",
            "objectClass: olcChainConfig",
            "olcOverlay: {0}chain",
            # A provider's refusal, not a referral the client would have to follow.
            "olcChainReturnError: TRUE",
            "",
        ]
        for position, url in enumerate(replication.providers):
            entry = chain_database_entry(url, identity)
            records += [f"dn: {chain_database_dn(position)}", f"olcDatabase: {{{position}}}ldap",
                        *(_line(name, value) for name, values_ in entry.items() for value in values_), ""]
        values["replication_entries"] = "\n".join(records)
    return values
