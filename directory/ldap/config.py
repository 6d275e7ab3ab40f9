"""What the LDAP adapter is told: where the directory is, how Porth binds, and the lockout."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from config.settings import IdpSettings, Settings, secret_value


@dataclass(frozen=True)
class Lockout:
    """After `failures` wrong passwords an account is locked for `minutes` (S-3).

    One setting (PORTH_IDP__FAILURES_BEFORE_LOCK, PORTH_IDP__LOCK_MINUTES) states it for both
    places that enforce it: the IdP's own throttle and slapd's password policy, which
    DirectoryStore.initialise() writes from it.
    """

    failures: int
    minutes: int

    @classmethod
    def of(cls, idp: IdpSettings) -> Lockout:
        return cls(failures=idp.failures_before_lock, minutes=idp.lock_minutes)


def _default_lockout() -> Lockout:
    return Lockout.of(IdpSettings())


@dataclass(frozen=True)
class DirectoryConfig:
    """`url` may list several servers, space-separated (libldap's own form): each new connection
    takes the first that answers, so a provider down fails over to the next. `read_urls` is where
    sign-ins go (for_reads); by default the same servers."""

    url: str
    base_dn: str
    bind_dn: str
    bind_password: str
    mail_domain: str
    pool_size: int = 4
    timeout_seconds: float = 5.0
    page_size: int = 500
    lockout: Lockout = field(default_factory=_default_lockout)
    read_urls: str | None = None

    @property
    def urls(self) -> list[str]:
        """The servers of `url`, in the order they are tried."""
        return self.url.split()

    def for_reads(self) -> DirectoryConfig:
        """This configuration aimed at the read URLs: a replica near the web node for sign-ins,
        whose lastbind and lock-out updates the replica forwards to a provider."""
        return replace(self, url=self.read_urls or self.url, read_urls=None)

    def __repr__(self) -> str:
        return (f"DirectoryConfig(url={self.url!r}, read_urls={self.read_urls!r}, base_dn={self.base_dn!r}, "
                f"bind_dn={self.bind_dn!r})")


def config_for(settings: Settings) -> DirectoryConfig:
    """The adapter's configuration from Porth's settings (with their secrets filled in)."""
    ldap = settings.ldap
    return DirectoryConfig(
        url=ldap.effective_url,
        base_dn=ldap.base_dn,
        bind_dn=ldap.effective_bind_dn,
        bind_password=secret_value(ldap.bind_password, "ldap.bind_password"),
        mail_domain=settings.accounts.username_domain,
        pool_size=ldap.pool_size,
        timeout_seconds=ldap.timeout_seconds,
        page_size=ldap.page_size,
        lockout=Lockout.of(settings.idp),
        read_urls=ldap.read_urls,
    )
