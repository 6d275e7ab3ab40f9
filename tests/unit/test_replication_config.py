"""What each replication role puts into the private slapd's cn=config (issue 17 point 1), and
the settings that choose it. Pure: the configuration is rendered, never loaded (that is
tests/integration/test_replication.py)."""

from __future__ import annotations

import base64
import re

import pytest

from config.settings import ConfigError, load_settings
from directory.ldap.config import config_for
from directory.replication import Replication, syncrepl_settings
from directory.slapd import PrivateSlapd, private_slapd_for

P1, P2 = "ldap://ldap1.la.example:389", "ldap://ldap2.la.example:389"
PASSWORD = 'pa"ss\\word'  # a quote and a backslash: slapd's parser must read it back whole


def rendered(replication: Replication) -> dict[str, dict[str, list[str]]]:
    """The rendered cn=config, by DN: each attribute's values (unfolded, base64 decoded)."""
    server = PrivateSlapd(root="/srv/porth/slapd", host="127.0.0.1", port=3890, suffix="dc=porth",
                          root_dn="cn=porth,dc=porth", root_password=PASSWORD, replication=replication)
    records: dict[str, dict[str, list[str]]] = {}
    for record in re.sub(r"\n ", "", server.render_config()).split("\n\n"):
        lines = [line for line in record.splitlines() if line and not line.startswith("#")]
        if not lines or not lines[0].startswith("dn: "):
            continue
        attributes: dict[str, list[str]] = {}
        for line in lines[1:]:
            name, _sep, value = line.partition(": ")
            if name.endswith(":"):
                name, value = name[:-1], base64.b64decode(value).decode("utf-8")
            attributes.setdefault(name, []).append(value)
        records[lines[0][4:]] = attributes
    return records


DATABASE = "olcDatabase={1}mdb,cn=config"
CHAIN = "olcOverlay={0}chain,olcDatabase={-1}frontend,cn=config"


def test_a_standalone_server_is_configured_as_before_replication_existed():
    config = rendered(Replication())
    assert "olcServerID" not in config["cn=config"]
    assert not {"olcSyncrepl", "olcUpdateRef", "olcMultiProvider"} & set(config[DATABASE])
    assert not any("syncprov" in dn or "chain" in dn for dn in config)
    assert "olcPPolicyForwardUpdates" not in config["olcOverlay={1}ppolicy," + DATABASE]


def test_a_provider_has_its_server_id_syncprov_and_replicates_from_each_other_provider_as_porth():
    config = rendered(Replication("provider", 2, (P1,)))
    assert config["cn=config"]["olcServerID"] == ["2"]
    assert "syncprov" in config["cn=module{0},cn=config"]["olcModuleLoad"]
    # After the database's own overlays, where an upgrade in place appends it too.
    assert config["olcOverlay={4}syncprov," + DATABASE]["olcOverlay"] == ["{4}syncprov"]
    [syncrepl] = config[DATABASE]["olcSyncrepl"]
    settings = syncrepl_settings(syncrepl)
    assert settings["provider"] == P1 and settings["rid"] == "001"
    assert settings["type"] == "refreshAndPersist" and settings["searchbase"] == "dc=porth"
    assert settings["binddn"] == "cn=porth,dc=porth" and settings["credentials"] == PASSWORD
    assert config[DATABASE]["olcMultiProvider"] == ["TRUE"]
    assert "olcUpdateRef" not in config[DATABASE]  # a provider takes writes itself
    assert not any("chain" in dn for dn in config)


def test_a_provider_alone_is_no_multi_provider_yet():
    config = rendered(Replication("provider", 1))
    assert config["cn=config"]["olcServerID"] == ["1"]
    assert "olcSyncrepl" not in config[DATABASE] and "olcMultiProvider" not in config[DATABASE]


def test_a_consumer_follows_every_provider_refers_and_chains_writes_and_forwards_sign_in_state():
    config = rendered(Replication("consumer", None, (P1, P2)))
    database = config[DATABASE]
    assert "olcServerID" not in config["cn=config"] and "olcMultiProvider" not in database
    assert [syncrepl_settings(v)["provider"] for v in database["olcSyncrepl"]] == [P1, P2]
    assert [syncrepl_settings(v)["rid"] for v in database["olcSyncrepl"]] == ["001", "002"]
    assert database["olcUpdateRef"] == [P1, P2]
    # lastbind's authTimestamp (L-3) and ppolicy's failures and lock-out (S-3) go to a provider.
    assert config["olcOverlay={1}ppolicy," + DATABASE]["olcPPolicyForwardUpdates"] == ["TRUE"]
    assert config["olcOverlay={2}lastbind," + DATABASE]["olcLastBindForwardUpdates"] == ["TRUE"]
    # The chain is on the frontend (the referral is sent there) and needs back-ldap.
    assert "back_ldap" in config["cn=module{0},cn=config"]["olcModuleLoad"]
    assert config[CHAIN]["olcChainReturnError"] == ["TRUE"]
    chained = [config[f"olcDatabase={{{n}}}ldap,{CHAIN}"] for n in (0, 1)]
    assert [database["olcDbURI"] for database in chained] == [[P1], [P2]]
    for database in chained:
        [assertion] = database["olcDbIDAssertBind"]
        # The client's own identity is asserted: never a write as Porth for whoever asks.
        assert syncrepl_settings(assertion) == {"bindmethod": "simple", "binddn": "cn=porth,dc=porth",
                                                "credentials": PASSWORD, "mode": "self"}


@pytest.mark.parametrize("role", [Replication("provider", 1, (P2,)), Replication("consumer", None, (P1,))])
def test_each_role_renders_ldif_slapadd_can_read(role):
    """Every record has a DN and every line is `name: value` or `name:: base64` (no line of a
    value broken by a quote or a newline in the password)."""
    server = PrivateSlapd(root="/srv/porth/slapd", host="127.0.0.1", port=3890, suffix="dc=porth",
                          root_dn="cn=porth,dc=porth", root_password="new\nline", replication=role)
    for record in server.render_config().split("\n\n"):
        for line in record.splitlines():
            assert line.startswith(("#", " ", "dn: ", "include: ")) or re.match(r"^[A-Za-z]+::? ", line), line


def _settings(monkeypatch, **variables: str):
    for name, value in variables.items():
        monkeypatch.setenv(f"PORTH_LDAP__{name}", value)
    return load_settings()


def test_the_write_url_may_list_every_provider_and_sign_ins_read_from_the_consumer(monkeypatch):
    settings = _settings(monkeypatch, URL=f"{P1}   {P2}", READ_URLS="ldap://127.0.0.1:3890 " + P1,
                         BIND_DN="cn=porth,dc=porth", BIND_PASSWORD="s3cret-value")
    config = config_for(settings)
    assert config.urls == [P1, P2]  # tried in this order
    assert config.for_reads().url == f"ldap://127.0.0.1:3890 {P1}"
    assert config_for(_settings(monkeypatch, READ_URLS=P2)).for_reads().url == P2


def test_reads_go_to_the_write_urls_unless_told_otherwise(monkeypatch):
    settings = _settings(monkeypatch, URL=P1, BIND_DN="cn=porth,dc=porth", BIND_PASSWORD="s3cret-value")
    assert config_for(settings).for_reads().url == P1


def test_the_settings_describe_the_node_porth_directory_runs(monkeypatch):
    settings = _settings(monkeypatch, EMBEDDED_ROLE="consumer", REPLICATE_FROM=f"{P1} {P2}",
                         BIND_PASSWORD="s3cret-value")
    assert settings.ldap.runs_private_slapd
    slapd = private_slapd_for(settings)
    assert slapd.replication == Replication("consumer", None, (P1, P2))


@pytest.mark.parametrize(("variables", "expected"), [
    ({"EMBEDDED_ROLE": "provider", "BIND_PASSWORD": "s3cret-value"}, "PORTH_LDAP: a provider needs its server id"),
    ({"EMBEDDED_ROLE": "provider", "EMBEDDED_SERVER_ID": "1"},
     "PORTH_LDAP: a provider or a consumer needs PORTH_LDAP__BIND_PASSWORD, the same on every node"),
    ({"EMBEDDED_ROLE": "consumer", "BIND_PASSWORD": "s3cret-value"},
     "PORTH_LDAP: a consumer needs the providers it replicates from"),
    ({"REPLICATE_FROM": P1}, "PORTH_LDAP: replicate_from and embedded_server_id are for a provider or a consumer"),
    ({"EMBEDDED_ROLE": "provider", "EMBEDDED_SERVER_ID": "4096"}, "PORTH_LDAP__EMBEDDED_SERVER_ID: Input should be"),
    ({"EMBEDDED_ROLE": "provider", "EMBEDDED_SERVER_ID": "1", "REPLICATE_FROM": "ldap://127.0.0.1:3890",
      "BIND_PASSWORD": "s3cret-value"},
     "PORTH_LDAP: replicate_from names this node itself"),
    ({"URL": f"{P1} http://ldap2"}, "PORTH_LDAP__URL: must be an ldap://"),
    ({"EMBEDDED_ROLE": "mirror"}, "PORTH_LDAP__EMBEDDED_ROLE: Input should be"),
])
def test_a_replication_setting_that_cannot_work_is_one_line_naming_it(monkeypatch, variables, expected):
    with pytest.raises(ConfigError) as error:
        _settings(monkeypatch, **variables)
    assert str(error.value).startswith(expected) and "\n" not in str(error.value)
