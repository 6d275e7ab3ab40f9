"""`porth administrators`: the national administrators, and a lost second factor reset.

Nobody in the portal stands above a national administrator (webui/portal/second_factor_policy.py):
the first one cannot be made there, and one who has lost every factor and recovery code has nobody
to ask but the team that runs Porth, which is what the sign-in page tells them. These commands are
that team's, run on a server that holds the deployment's secrets; each change is in the audit log
(R-7) with the operator's login and host as who and from where.
"""

from __future__ import annotations

import getpass
import socket
from typing import Any

import click

from directory.model import Account, AccountKind, AccountState, Contact, NewAccount, Role
from directory.rules.lifecycle import ExpiryChoice, expiry_date, expiry_instant
from directory.rules.passwords import generate_password
from directory.store import AccountQuery
from entrypoints.cli.context import counted, settings_of, utc_now
from operational.audit import OPERATOR_ROLE, AuditEntry, record
from operational.second_factors import SecondFactors
from operational.web_sessions import end_sessions_of


@click.group()
def administrators() -> None:
    """National administrators (add, list, remove) and a lost second factor reset."""


def _operator() -> tuple[str, str]:
    """Who ran the command and where: the login and the host, as the audit log's actor and address."""
    return getpass.getuser(), socket.gethostname()


def _audit(runtime: Any, action: str, account: Account, detail: dict[str, Any]) -> None:
    login, host = _operator()
    record(runtime.db, AuditEntry(
        at=utc_now(), actor=login, actor_role=OPERATOR_ROLE, action=action, target_kind=account.kind.value,
        target_id=account.id, target_label=account.username, school=account.school,
        organisation=account.organisation, source_address=host, detail=detail))


def _account_named(runtime: Any, username: str) -> Account:
    account = runtime.store.find_by_username(username.split("@", 1)[0])
    if account is None:
        raise click.ClickException(f"no account has the username {username}")
    return account


def national_administrators(store: Any) -> list[Account]:
    """They are stakeholder accounts (A-1: no school, no local authority), few enough to read whole."""
    return sorted((a for a in store.find_accounts(AccountQuery(kinds=(AccountKind.STAKEHOLDER,)))
                   if Role.NATIONAL_ADMINISTRATOR in a.roles), key=lambda a: a.username.lower())


@administrators.command("add")
@click.option("--forename", required=True)
@click.option("--surname", required=True)
@click.option("--work-email", help="shown on their details page, to tell them apart; never used to sign in")
@click.option("--job-title")
@click.option("--expiry", type=click.Choice([c.value for c in ExpiryChoice]),
              default=ExpiryChoice.END_OF_ACADEMIC_YEAR.value, show_default=True,
              help="a non-MIS account expires (L-1); another national administrator extends it in the portal")
@click.pass_context
def add(ctx: click.Context, forename: str, surname: str, work_email: str | None, job_title: str | None,
        expiry: str) -> None:
    """Add a national administrator; their username and first password are printed once."""
    from entrypoints.runtime import build_runtime, directory_running

    forename, surname = forename.strip(), surname.strip()
    if not forename or not surname:
        raise click.ClickException("a national administrator needs a forename and a surname")
    settings = settings_of(ctx)
    now = utc_now()
    password = generate_password()
    with directory_running(settings), build_runtime(settings) as runtime:
        login, _host = _operator()
        contact = Contact(job_title=job_title, work_email=work_email) if job_title or work_email else None
        account = runtime.store.add_account(NewAccount(
            kind=AccountKind.STAKEHOLDER, created_by=login, roles=frozenset({Role.NATIONAL_ADMINISTRATOR}),
            expiry=expiry_instant(expiry_date(ExpiryChoice(expiry), now.date())), contact=contact,
            password=password, forename=forename, surname=surname), now)
        _audit(runtime, "create-account", account, {"role": Role.NATIONAL_ADMINISTRATOR.value, "expiry": expiry})
    click.echo(f"Added the national administrator {account.display_name}: {account.mail} / {password}")
    click.echo(f"They sign in to user management at {settings.idp.base_url.rstrip('/')}/portal/ and set up a "
               "second factor there at once. This password is not shown again.")


@administrators.command("list")
@click.pass_context
def list_administrators(ctx: click.Context) -> None:
    """The national administrators: state, expiry and how many second factors each has."""
    from entrypoints.runtime import build_runtime, directory_running

    settings = settings_of(ctx)
    with directory_running(settings), build_runtime(settings) as runtime:
        found = national_administrators(runtime.store)
        factors = SecondFactors(runtime.db)
        for account in found:
            expiry = account.expiry.date().isoformat() if account.expiry else "never"
            click.echo(f"{account.mail}\t{account.display_name}\t{account.state.value}\texpires {expiry}\t"
                       f"{counted(len(factors.factors_of(account.id)), 'second factor')}")
    click.echo(f"{counted(len(found), 'national administrator')}.")


@administrators.command("remove")
@click.argument("username")
@click.pass_context
def remove(ctx: click.Context, username: str) -> None:
    """Take the national-administrator role away (the account stays, as a demoted administrator's does)."""
    from entrypoints.runtime import build_runtime, directory_running

    settings = settings_of(ctx)
    with directory_running(settings), build_runtime(settings) as runtime:
        account = _account_named(runtime, username)
        if Role.NATIONAL_ADMINISTRATOR not in account.roles:
            raise click.ClickException(f"{account.mail} is not a national administrator")
        others = [a for a in national_administrators(runtime.store)
                  if a.id != account.id and a.state is AccountState.ACTIVE]
        runtime.store.update_account(account.id, {"roles": account.roles - {Role.NATIONAL_ADMINISTRATOR}})
        end_sessions_of(runtime.db, account.id)  # a portal session opened as a national administrator ends
        _audit(runtime, "demote", account, {"role": Role.NATIONAL_ADMINISTRATOR.value})
    click.echo(f"{account.mail} is no longer a national administrator.")
    if not others:
        click.echo("No active national administrator is left: add one with `porth administrators add`.", err=True)


@administrators.command("reset-second-factor")
@click.argument("username")
@click.option("--yes", is_flag=True, help="do not ask first")
@click.pass_context
def reset_second_factor(ctx: click.Context, username: str, yes: bool) -> None:
    """Remove every second factor and recovery code of an account (anyone's: in the portal a higher
    administrator does this, and nobody there stands above a national administrator)."""
    from entrypoints.runtime import build_runtime, directory_running

    settings = settings_of(ctx)
    with directory_running(settings), build_runtime(settings) as runtime:
        account = _account_named(runtime, username)
        factors = SecondFactors(runtime.db)
        if not factors.factors_of(account.id):
            click.echo(f"{account.mail} has no second factor: nothing to reset.")
            return
        if not yes:
            click.confirm(f"Remove every second factor and recovery code of {account.display_name} ({account.mail}) "
                          "and sign them out everywhere?", abort=True)
        gone = factors.reset(account.id)
        end_sessions_of(runtime.db, account.id)
        _audit(runtime, "reset-second-factor", account, {"factors": gone})
    click.echo(f"Reset: {counted(gone, 'second factor')} of {account.mail} removed, with the recovery codes; "
               "signed out everywhere. They set up a new one at their next sign-in to user management.")
