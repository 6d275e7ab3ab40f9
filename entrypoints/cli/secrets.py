"""`porth secrets create DIR`: a deployment's whole set of secret files, written once.

A deployment of several web nodes (docker-compose.yml) must give every node the same keys: the
IdP's signing key, the portal's SAML key, the session key... A node that generated its own
would refuse what another node started (a portal sign-in begun on one node and answered by
another). So the set is made once, here, and every process reads it from PORTH_SECRETS__DIR,
where Porth never generates anything (config/settings.py, SECRET_FILES).
"""

from __future__ import annotations

import os
import secrets as random_secrets
from pathlib import Path

import click

from config.settings import IDP_SIGNING_PEM, PORTAL_SP_PEM, SECRET_FILES, load_settings, write_new_secret
from entrypoints.cli.context import EXIT_FAILURE

# PostgreSQL's password, for the database's own container (POSTGRES_PASSWORD_FILE), and the same in
# a libpq password file for Porth's processes (PGPASSFILE): no password in an environment value or a
# URL. They are the deployment's, not Porth's data, so not in SECRET_FILES (a restore goes into a
# new database with its own). The names are of files, not passwords (S105).
DATABASE_PASSWORD_FILE = "database_password"  # noqa: S105
PGPASS_FILE = "pgpass"
POSTGRES_IMAGE_UID = "999"  # the user the postgres image's server runs as (Debian's postgres)
# The scheduler's settings file (PORTH_CONFIG): a secret because Microsoft 365's client secret goes in it.
GRAPH_SETTINGS_FILE = "graph.toml"
GRAPH_SETTINGS = """\
# The scheduler's Microsoft 365 settings (docs/microsoft365.md), kept with the secrets because the
# app's client secret goes here. Off until the tenant is connected: set the three values, then
# enabled = true (and dry_run = true for the first sync).
[graph]
enabled = false
# tenant_id = "the tenant's id (a GUID)"
# client_id = "Porth's application (client) id"
# client_secret = "the application's client secret"
"""


def _owner(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    user, _, group = value.partition(":")
    try:
        return int(user), int(group or user)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not UID or UID:GID (numbers: the user inside the image)") from None


@click.group("secrets")
def secrets() -> None:
    """A deployment's secret files (read from PORTH_SECRETS__DIR, never generated there)."""


@secrets.command("create")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.option("--owner", metavar="UID[:GID]",
              help="Give the files to this user (the image's porth is 10001), so a container reads them while "
                   "they stay 0600. Needs root.")
@click.option("--database-user", metavar="NAME",
              help=f"Also write a PostgreSQL password: {DATABASE_PASSWORD_FILE} (for the database's container) and "
                   f"{PGPASS_FILE} (a libpq password file for Porth, PGPASSFILE) for this database user.")
@click.option("--database-owner", metavar="UID[:GID]", default=POSTGRES_IMAGE_UID, show_default=True,
              help=f"With --owner: who owns {DATABASE_PASSWORD_FILE} (the postgres image's user).")
@click.pass_context
def create(ctx: click.Context, folder: Path, owner: str | None, database_user: str | None,
           database_owner: str) -> None:
    """Write every secret Porth needs into FOLDER (0700; files 0600), each generated once: a file
    already there is kept, never replaced (a new UPN-hash key would make every learner a stranger)."""
    from idp.signing import generate_signing_pair

    settings = load_settings()  # for the certificates' names; nothing is read from or written to var/
    owner_ids = _owner(owner)
    database_ids = _owner(database_owner) if owner_ids is not None else None
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    if owner_ids is not None:
        os.chown(folder, *owner_ids)
    wrote: list[str] = []
    kept: list[str] = []
    for secret in SECRET_FILES:
        path = folder / secret.name
        if path.exists():
            kept.append(secret.name)
            continue
        if secret.generate is not None:
            write_new_secret(path, secret.generate(), owner_ids)
        else:
            common_name = {IDP_SIGNING_PEM: settings.idp.effective_entity_id,
                           PORTAL_SP_PEM: f"{settings.idp.base_url}/portal/saml/metadata"}[secret.name]
            generate_signing_pair(path, common_name)
            if owner_ids is not None:
                os.chown(path, *owner_ids)
        wrote.append(secret.name)
    graph = folder / GRAPH_SETTINGS_FILE
    if graph.exists():
        kept.append(GRAPH_SETTINGS_FILE)
    else:
        write_new_secret(graph, GRAPH_SETTINGS.rstrip("\n"), owner_ids)
        wrote.append(GRAPH_SETTINGS_FILE)
    if database_user is not None:
        present = [name for name in (DATABASE_PASSWORD_FILE, PGPASS_FILE) if (folder / name).exists()]
        if len(present) == 1:  # the two must hold one password: never make the other anew
            click.echo(f"porth: {folder / present[0]} exists without its pair; delete it to write both again", err=True)
            ctx.exit(EXIT_FAILURE)
        if present:
            kept.extend(present)
        else:
            password = random_secrets.token_urlsafe(32)  # no ':' or '\\', the two characters pgpass escapes
            write_new_secret(folder / DATABASE_PASSWORD_FILE, password, database_ids)
            write_new_secret(folder / PGPASS_FILE, f"*:*:*:{database_user}:{password}", owner_ids)
            wrote.extend([DATABASE_PASSWORD_FILE, PGPASS_FILE])
    if wrote:
        click.echo(f"wrote {folder}: {', '.join(wrote)}")
    if kept:
        click.echo(f"kept (already there): {', '.join(kept)}")
    click.echo("these keys are the deployment's: back them up with the data (porth backup) and let no one else "
               "read them")
