"""`porth claims backfill`: claim what the directory already holds (issue 17 point 2).

Usernames, aliases and UPN hashes are claimed in the operational database before any directory
server is written with them (directory/claims.py). Those written before the claims were kept
(a directory older than the claims, or run with them off) are claimed by this command, for the
accounts that hold them, so that no other provider gives them out again.
"""

from __future__ import annotations

import click

from directory.claims import ClaimKind
from entrypoints.cli.context import EXIT_FAILURE, settings_of


@click.group()
def claims() -> None:
    """The shared claims on usernames and UPN hashes (docs/deployment.md, "No duplicates across providers")."""


@claims.command("backfill")
@click.pass_context
def claims_backfill(ctx: click.Context) -> None:
    """Claim every username, alias and UPN hash of the directory for the account holding it; safe
    to run again and while Porth runs. Exit status 1 if a value is held by two accounts."""
    from entrypoints.runtime import build_runtime, directory_running
    from operational.directory_claims import record_existing

    settings = settings_of(ctx)
    with directory_running(settings), build_runtime(settings) as runtime:
        runtime.db.migrate()
        found = record_existing(runtime.db, runtime.store.claimable_values())
        for kind, value, here, claimed_by in found.conflicts:
            account = runtime.store.get_account(here)
            label = account.username if account is not None else here
            # Never a UPN hash (M-3): the accounts, by username or id.
            what = f"username {value}" if kind == ClaimKind.USERNAME else "a UPN hash"
            click.echo(f"{what}: held by account {label} in this directory, claimed by account "
                       f"{claimed_by or '(none)'}")
    click.echo(f"claims: {found.recorded} recorded, {found.already} already recorded, "
               f"{len(found.conflicts)} held by two accounts")
    if found.conflicts:
        click.echo("two accounts hold one username or UPN hash: keep one of them (porth directory duplicates "
                   "lists the learners) and run this again", err=True)
        ctx.exit(EXIT_FAILURE)
