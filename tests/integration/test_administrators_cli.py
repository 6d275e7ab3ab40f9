"""`porth administrators` as the team that runs Porth uses it (issue 18 point 7; SPEC R-7): nobody in
the portal stands above a national administrator, so the first one is added from the command line,
and one who has lost every factor and recovery code is reset there, audited with the operator's login
and host. The national administrator then signs in, is asked to set up a factor again, and reads
the reset in the audit log."""

from __future__ import annotations

import getpass
import re
import socket

import pytest

from directory.model import Role
from operational.audit import AuditFilter, events
from tests.conftest import porth_env, run_porth
from tests.integration.conftest import BASE_DN, ROOT_DN
from tests.integration.test_portal_second_factor import (  # noqa: F401 (portal: the fixture, asking for factors)
    code_for,
    enrol_app,
    give_second_factor,
    portal,
    text,
)


@pytest.fixture
def operator(slapd, tmp_path):
    """The `porth` command on a server of the same deployment: its directory, database and secrets."""
    env = porth_env(tmp_path / "var", PORTH_LDAP__URL=slapd.url, PORTH_LDAP__BASE_DN=BASE_DN,
                    PORTH_LDAP__BIND_DN=ROOT_DN, PORTH_LDAP__BIND_PASSWORD=slapd.root_password,
                    PORTH_DATABASE__URL=f"sqlite:///{tmp_path}/operational.sqlite3")
    return lambda *args: run_porth(["administrators", *args], env)


def sign_in_and_enrol(portal, username: str, password: str) -> str:
    landed = portal.sign_in(username, password)
    assert 'id="must-enrol"' in text(landed), "a national administrator must set up a second factor first"
    return enrol_app(portal)


def test_the_first_national_administrator_is_added_loses_their_factor_and_is_reset_by_the_operator(
        portal, operator):
    added = operator("add", "--forename", "Siân", "--surname", "Ap Gwilym", "--work-email", "sian@llyw.cymru")
    assert added.returncode == 0, added.stderr
    username, password = re.search(r"national administrator Siân Ap Gwilym: (\S+@hwbcymru\.net) / (\S+)\n",
                                   added.stdout).groups()
    assert "This password is not shown again." in added.stdout
    account = portal.porth.runtime.store.find_by_username(username.split("@")[0])
    assert account.roles == frozenset({Role.NATIONAL_ADMINISTRATOR}) and account.expiry is not None
    assert account.contact.work_email == "sian@llyw.cymru"

    secret = sign_in_and_enrol(portal, username, password)
    listed = operator("list")
    assert f"{username}\tSiân Ap Gwilym\tactive\texpires {account.expiry.date().isoformat()}\t1 second factor" \
        in listed.stdout and "1 national administrator." in listed.stdout

    # Phone and codes lost: the page that asks for the factor says whom to ask, and nobody in the
    # portal is above them.
    asked = text(portal.open("/portal/users/staff"))
    assert "Ask the team that runs Porth to reset your second factor" in asked

    reset = operator("reset-second-factor", username, "--yes")
    assert reset.returncode == 0, reset.stderr
    assert f"Reset: 1 second factor of {username} removed" in reset.stdout
    assert not portal.porth.app.extensions["porth.idp"].second_factors.store.has_factor(account.id)
    # Signed out everywhere: the portal asks for the password again, and then for a new factor.
    assert 'name="password"' in text(portal.open("/portal/"))
    new_secret = sign_in_and_enrol(portal, username, password)
    assert new_secret != secret

    logged = [e for _, e in events(portal.porth.runtime.db, AuditFilter(target_id=account.id))
              if e.actor_role == "operator"]
    assert [(e.action, e.actor, e.source_address) for e in logged] == [
        ("reset-second-factor", getpass.getuser(), socket.gethostname()),
        ("create-account", getpass.getuser(), socket.gethostname())]
    # ... and the national administrator reads it in the portal's audit log, worded.
    dashboard = give_second_factor(portal, portal.open("/portal/audit"), code_for(new_secret, 1))
    assert dashboard.status_code == 200, text(dashboard)[:800]
    audit = text(portal.open("/portal/audit?action=reset-second-factor"))
    assert "The team that runs Porth (porth command)" in audit and account.username in audit

    again = operator("reset-second-factor", username)  # asked first: "n" keeps the factor
    assert again.returncode == 1 and "Aborted" in again.stderr
    assert portal.porth.app.extensions["porth.idp"].second_factors.store.has_factor(account.id)


def test_removing_the_role_signs_them_out_and_warns_when_none_is_left(portal, operator):
    added = operator("add", "--forename", "Huw", "--surname", "Owen")
    username, password = re.search(r": (\S+@hwbcymru\.net) / (\S+)\n", added.stdout).groups()
    portal.sign_in(username, password)
    removed = operator("remove", username)
    assert removed.returncode == 0, removed.stderr
    assert f"{username} is no longer a national administrator." in removed.stdout
    assert "No active national administrator is left" in removed.stderr
    assert 'name="password"' in text(portal.open("/portal/")), "their portal session ended"
    assert operator("remove", username).stderr.strip() == f"Error: {username} is not a national administrator"


def test_an_unknown_username_and_an_account_without_a_factor_are_said_plainly(portal, operator):
    unknown = operator("reset-second-factor", "NobodyX@hwbcymru.net", "--yes")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "Error: no account has the username NobodyX@hwbcymru.net"
    added = operator("add", "--forename", "Huw", "--surname", "Owen")
    username = re.search(r": (\S+@hwbcymru\.net) / ", added.stdout).group(1)
    nothing = operator("reset-second-factor", username, "--yes")
    assert nothing.returncode == 0 and nothing.stdout.strip() == f"{username} has no second factor: nothing to reset."
    assert operator("add", "--forename", " ", "--surname", "Owen").returncode == 1
