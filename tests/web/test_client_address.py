"""The client's address behind trusted proxies: believed only from them, read from the right."""

from __future__ import annotations

import ipaddress

from tpbridge.bridge.web.client_address import client_address

LB = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_address("203.0.113.1", ["198.51.100.9"], []) == "203.0.113.1"


def test_a_peer_that_is_no_proxy_cannot_name_its_address() -> None:
    assert client_address("203.0.113.1", ["198.51.100.9"], LB) == "203.0.113.1"


def test_the_first_address_from_the_right_that_is_no_proxy_is_the_client() -> None:
    assert client_address("10.0.0.2", ["198.51.100.9"], LB) == "198.51.100.9"
    assert client_address("10.0.0.2", ["1.2.3.4, 198.51.100.9, 10.0.0.5"], LB) == "198.51.100.9"
    assert client_address("10.0.0.2", ["1.2.3.4", "198.51.100.9, 10.0.0.5"], LB) == "198.51.100.9"  # two headers
    assert client_address("fd00::1", ["2001:db8::7"], LB) == "2001:db8::7"
    assert client_address("::ffff:10.0.0.2", ["198.51.100.9"], LB) == "198.51.100.9"  # v4-mapped proxy


def test_garbage_stops_the_walk_at_the_last_hop_a_proxy_vouched_for() -> None:
    assert client_address("10.0.0.2", ["not-an-ip, 10.0.0.7"], LB) == "10.0.0.7"
    assert client_address("10.0.0.2", [""], LB) == "10.0.0.2"
    assert client_address("10.0.0.2", ["10.0.0.9"], LB) == "10.0.0.9"  # all proxies: the leftmost one
