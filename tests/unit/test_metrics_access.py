"""Who may scrape Porth's metrics, and the bounded label a request is timed under (issue 17
point 5; webui/metrics.py)."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from webui.metrics import may_scrape, request_group

LOOPBACK = (ip_network("127.0.0.0/8"), ip_network("::1/128"))
MONITORING = (ip_network("10.20.0.0/24"), ip_network("2001:db8:5::/48"))


def no_headers(_name: str) -> None:
    return None


@pytest.mark.parametrize(("peer", "allow", "allowed"), [
    ("127.0.0.1", LOOPBACK, True), ("127.8.9.1", LOOPBACK, True), ("::1", LOOPBACK, True),
    ("::ffff:127.0.0.1", LOOPBACK, True),  # a dual-stack socket's IPv4 peer
    ("192.0.2.10", LOOPBACK, False), ("10.20.0.7", LOOPBACK, False),
    ("10.20.0.7", MONITORING, True), ("10.20.1.7", MONITORING, False), ("2001:db8:5::9", MONITORING, True),
    ("127.0.0.1", MONITORING, False),
    ("", LOOPBACK, False), (None, LOOPBACK, False), ("not-an-address", LOOPBACK, False),
])
def test_the_peer_address_decides(peer, allow, allowed):
    assert may_scrape(peer, no_headers, allow) is allowed


@pytest.mark.parametrize("header", ["Forwarded", "X-Forwarded-For", "X-Real-IP"])
def test_a_request_a_proxy_passed_on_is_refused_whatever_its_peer(header):
    """The public proxy on the same machine connects from loopback: its forwarding header gives it away."""
    headers = {header: "198.51.100.4"}
    assert may_scrape("127.0.0.1", headers.get, LOOPBACK) is False
    assert may_scrape("127.0.0.1", {header: ""}.get, LOOPBACK) is False  # even empty: a proxy added it


@pytest.mark.parametrize(("endpoint", "blueprint", "group"), [
    ("idp.sign_in", "idp", "idp"), ("idp_logout.slo_redirect", "idp_logout", "idp"),
    ("portal.users.view", "portal.users", "portal"), ("portal.dashboard.home", "portal.dashboard", "portal"),
    ("static", None, "static"), ("schools", None, "home"), ("ready", None, "health"), ("live", None, "health"),
    ("health", None, "health"), ("metrics", None, "metrics"), (None, None, "unmatched"),
    ("something_new", None, "other"),
])
def test_a_request_is_timed_under_a_few_fixed_groups_never_its_path(endpoint, blueprint, group):
    assert request_group(endpoint, blueprint) == group
