"""Configuration: defaults, environment, TOML file, one-line errors, generated secrets."""

import stat
from pathlib import Path

import pytest

from config.settings import ConfigError, load_settings, with_secrets


def test_defaults_are_the_embedded_directory_and_sqlite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.ldap.embedded
    assert settings.ldap.effective_url == "ldap://127.0.0.1:3890"
    assert settings.database_url == f"sqlite:///{tmp_path / 'var' / 'porth.sqlite3'}"
    assert settings.accounts.username_domain == "hwbcymru.net"


def test_environment_nested_with_double_underscore(monkeypatch):
    monkeypatch.setenv("PORTH_LDAP__URL", "ldaps://ldap.example.org:636")
    monkeypatch.setenv("PORTH_LDAP__BIND_DN", "cn=porth,dc=example,dc=org")
    monkeypatch.setenv("PORTH_LDAP__BIND_PASSWORD", "s3cret-value")
    monkeypatch.setenv("PORTH_DATABASE__URL", "postgresql+psycopg://porth@db/porth")
    settings = load_settings()
    assert not settings.ldap.embedded
    assert settings.ldap.effective_url == "ldaps://ldap.example.org:636"
    assert settings.database_url == "postgresql+psycopg://porth@db/porth"


def test_toml_file_named_by_porth_config_and_environment_wins(tmp_path, monkeypatch):
    config = tmp_path / "porth.toml"
    config.write_text('[accounts]\nusername_domain = "ysgol.example"\n[web]\nport = 8080\nworkers = 3\n')
    monkeypatch.setenv("PORTH_CONFIG", str(config))
    monkeypatch.setenv("PORTH_WEB__PORT", "8081")
    settings = load_settings()
    assert settings.accounts.username_domain == "ysgol.example"
    assert settings.web.workers == 3
    assert settings.web.port == 8081


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("PORTH_LDAP__URL", "http://ldap", "PORTH_LDAP__URL: must be an ldap://"),
        ("PORTH_WEB__PORT", "70000", "PORTH_WEB__PORT: Input should be less than or equal to 65535"),
        ("PORTH_DATABASE__URL", "mysql://x", "PORTH_DATABASE__URL: must start with sqlite:// or postgresql+psycopg://"),
        ("PORTH_ACCOUNTS__USERNAME_DOMAIN", "not a domain", "PORTH_ACCOUNTS__USERNAME_DOMAIN: must be a DNS domain"),
        ("PORTH_SECRETS__PASSWORD_VAULT_KEY", "tooshort", "PORTH_SECRETS__PASSWORD_VAULT_KEY: must be a Fernet key"),
        ("PORTH_LDAP__BASE_DN", "porth", "PORTH_LDAP__BASE_DN: must be an LDAP DN"),
        ("PORTH_LOG_LEVEL", "LOUD", "PORTH_LOG_LEVEL: Input should be"),
    ],
)
def test_a_wrong_setting_is_one_line_naming_it(monkeypatch, variable, value, expected):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_secret_values_are_never_echoed_in_errors(monkeypatch):
    monkeypatch.setenv("PORTH_SECRETS__UPN_HASH_KEY", "hunter2")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "PORTH_SECRETS__UPN_HASH_KEY" in str(error.value)
    assert "hunter2" not in str(error.value)


def test_external_directory_needs_credentials(monkeypatch):
    monkeypatch.setenv("PORTH_LDAP__URL", "ldap://ldap.example.org:389")
    with pytest.raises(ConfigError, match="PORTH_LDAP__BIND_PASSWORD: required"):
        load_settings()


def test_missing_config_file_and_unknown_key(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTH_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="PORTH_CONFIG: no such file"):
        load_settings()
    config = tmp_path / "porth.toml"
    config.write_text("[ldap]\nurll = 'ldap://x'\n")
    monkeypatch.setenv("PORTH_CONFIG", str(config))
    with pytest.raises(ConfigError, match="PORTH_LDAP__URLL: unknown setting"):
        load_settings()
    config.write_text("[ldap\n")
    with pytest.raises(ConfigError, match="PORTH_CONFIG"):
        load_settings()


def test_secrets_are_generated_once_with_mode_0600_and_reused(tmp_path):
    settings = with_secrets(load_settings(var_dir=tmp_path / "var"))
    folder = tmp_path / "var" / "secrets"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["flask_secret_key", "ldap_bind_password", "password_vault_key", "persistent_id_key",
                     "upn_hash_key"]
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    again = with_secrets(load_settings(var_dir=tmp_path / "var"))
    assert again.secrets.upn_hash_key.get_secret_value() == settings.secrets.upn_hash_key.get_secret_value()
    assert again.ldap.bind_password.get_secret_value() == settings.ldap.bind_password.get_secret_value()


def test_given_secrets_are_used_and_not_written(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTH_SECRETS__UPN_HASH_KEY", "u" * 40)
    settings = with_secrets(load_settings(var_dir=tmp_path))
    assert settings.secrets.upn_hash_key.get_secret_value() == "u" * 40
    assert not (tmp_path / "secrets" / "upn_hash_key").exists()


def test_secrets_never_appear_in_repr_or_dump(tmp_path):
    settings = with_secrets(load_settings(var_dir=tmp_path))
    secret_values = [
        settings.secrets.upn_hash_key.get_secret_value(),
        settings.secrets.password_vault_key.get_secret_value(),
        settings.secrets.flask_secret_key.get_secret_value(),
        settings.ldap.bind_password.get_secret_value(),
    ]
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for value in secret_values:
        assert value not in shown


def test_secrets_are_not_committed():
    ignored = (Path(__file__).parents[2] / ".gitignore").read_text().splitlines()
    assert "/var/" in ignored


def test_an_entity_id_saml2int_does_not_allow_is_refused():
    """saml2int SDP-G04: an absolute URI of at most 256 characters (issue 15 point 8)."""
    for wrong in ("porth", "https://porth.example/" + "x" * 250):
        with pytest.raises(ConfigError, match="PORTH_IDP__ENTITY_ID"):
            load_settings(idp={"entity_id": wrong})
    with pytest.raises(ConfigError, match="256"):
        load_settings(idp={"base_url": "https://porth.example/" + "x" * 240})
    assert load_settings(idp={"entity_id": "urn:porth:anytown"}).idp.effective_entity_id == "urn:porth:anytown"


def test_processes_starting_together_all_read_the_one_secret_written(tmp_path):
    """Web and scheduler start at once on a new var/: each gets the same, whole secret, never an
    empty file another has created but not yet written (tests/integration/test_jobs_cli.py saw it)."""
    import threading

    from config.settings import _read_or_create_secret

    for trial in range(40):
        directory = tmp_path / f"secrets-{trial}"
        start, got, errors = threading.Barrier(8), [], []

        def read(directory=directory, start=start, got=got, errors=errors) -> None:
            start.wait()
            try:
                got.append(_read_or_create_secret(directory, "upn_hash_key").get_secret_value())
            except ConfigError as exc:
                errors.append(str(exc))

        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [] and len(set(got)) == 1 and len(got) == 8
        assert [p.name for p in directory.iterdir()] == ["upn_hash_key"]  # no draft left behind
