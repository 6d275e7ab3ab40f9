"""The directory adapter's configuration from Porth's settings: the lockout is stated once (S-3)."""

from config.settings import IdpSettings, load_settings
from directory.ldap.config import DirectoryConfig, Lockout, config_for
from directory.ldap.mapping import lockout_attributes


def test_the_idp_lockout_settings_are_the_lockout_slapd_is_given(monkeypatch):
    monkeypatch.setenv("PORTH_LDAP__BIND_PASSWORD", "s3cret-value")
    monkeypatch.setenv("PORTH_IDP__FAILURES_BEFORE_LOCK", "5")
    monkeypatch.setenv("PORTH_IDP__LOCK_MINUTES", "20")
    settings = load_settings()
    assert (settings.idp.failures_before_lock, settings.idp.lock_minutes) == (5, 20)  # what the IdP throttle reads
    config = config_for(settings)
    assert config.lockout == Lockout(failures=5, minutes=20)
    assert lockout_attributes(config.lockout) == {
        "pwdMaxFailure": "5", "pwdLockoutDuration": "1200", "pwdFailureCountInterval": "1200"}


def test_a_config_made_without_a_lockout_has_the_settings_default_not_a_second_statement_of_it():
    config = DirectoryConfig(url="ldap://127.0.0.1:1", base_dn="dc=porth", bind_dn="cn=porth,dc=porth",
                             bind_password="x", mail_domain="hwbcymru.net")
    assert config.lockout == Lockout(IdpSettings().failures_before_lock, IdpSettings().lock_minutes) == Lockout(10, 15)
