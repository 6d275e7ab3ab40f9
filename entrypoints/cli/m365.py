"""`porth m365`: connecting an LA's Microsoft 365 tenant to Porth (docs/microsoft365.md)."""

from __future__ import annotations

import click

from config.settings import ConfigError
from entrypoints.cli.context import settings_of


@click.group()
def m365() -> None:
    """Microsoft 365: federating the tenant's domain with Porth's sign-in."""


@m365.command("federation")
@click.option("--domain", help="The verified domain to federate (default: accounts.username_domain, "
                                "the domain of every account's address and userPrincipalName).")
@click.option("--display-name", default="Porth", show_default=True,
              help="The name Entra shows for the identity provider.")
@click.pass_context
def federation(ctx: click.Context, domain: str | None, display_name: str) -> None:
    """Print what the tenant's administrator runs to federate the domain with Porth: the
    Microsoft Graph PowerShell command and the same as a Graph request. Nothing is sent."""
    from idp.attributes import KNOWN_ATTRIBUTES
    from idp.entra import ENTRA_ENTITY_ID, FederationRefused, domain_federation
    from idp.provider import signing_files
    from idp.services import ServiceRegistry
    from idp.signing import SignatureRefused, load_signing_key

    settings = settings_of(ctx)
    try:  # the pair the IdP signs with (made now, as `porth serve` would, if there is none yet)
        key = load_signing_key(*signing_files(settings))
    except SignatureRefused as exc:
        raise ConfigError(f"PORTH_IDP__SIGNING_KEY_FILE: {exc}") from None
    accounts_domain = settings.accounts.username_domain
    try:
        config = domain_federation(domain=domain or accounts_domain, base_url=settings.idp.base_url,
                                   entity_id=settings.idp.effective_entity_id,
                                   certificate_base64=key.certificate_base64, display_name=display_name)
    except FederationRefused as exc:
        raise click.UsageError(f"--domain: {exc}") from None
    if not settings.idp.base_url.startswith("https://"):
        click.echo(f"porth: warning: PORTH_IDP__BASE_URL is {settings.idp.base_url}; Entra federates only "
                   "with an identity provider reached over HTTPS", err=True)
    services_dir = settings.idp.services_dir
    if ServiceRegistry(services_dir, KNOWN_ATTRIBUTES).get(ENTRA_ENTITY_ID) is None:
        click.echo(f"porth: warning: no service in {services_dir}/ is Office 365 ({ENTRA_ENTITY_ID}): "
                   "Porth would refuse Entra's requests (config/services/office365.xml and .toml)", err=True)
    if config.domain != accounts_domain.lower():
        click.echo(f"porth: warning: accounts' userPrincipalNames are at {accounts_domain}, not {config.domain}: "
                   "federating another domain signs none of them in", err=True)
    click.echo(f"# Federate {config.domain} with Porth, as a tenant administrator (Hybrid Identity or External\n"
               "# Identity Provider Administrator). The domain must be verified in the tenant and not federated\n"
               "# yet; its users then sign in at Porth (Entra: sign-in may fail for up to two hours meanwhile).\n"
               "# Microsoft Graph PowerShell:\n")
    click.echo(config.powershell())
    click.echo("\n# Or the same as a Microsoft Graph request:\n")
    click.echo(config.graph_request())
