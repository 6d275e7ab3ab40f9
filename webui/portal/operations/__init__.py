"""The portal's service layer (issue 12; anchors: Indico's `users/operations.py`, cosmicpython's
`service_layer/services.py`): every change a person makes in the portal is one function here that

1. asks the permission table (webui/portal/permissions.py) whether this person may do it to this
   target, and raises `Refused` if not, before anything is written;
2. writes the directory (or queues the change in the operational database);
3. writes the audit entry (SPEC R-7), in that order.

Operations know nothing of Flask: who asks, from where and when arrive as a `Caller`, and what
they write to as `Records`, so each can be run with a ten-line fake (tests/unit/test_portal_operations.py).
Views (the area modules beside this package) parse the request, call one operation and render.

    core          Caller, Records, the refusals, the audit entry
    passwords     reset (one, many), one's own, reveal (Show password, print, download)
    accounts      names, a new username, deactivate/reactivate, consent, create, extend expiry
    roles         promote and demote digital champions and Hwb administrators
    licences      allocate and revoke staff licences within the quota (G-2)
"""
