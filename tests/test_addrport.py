"""The ``[addr:]port`` argument of runasgi, parsed as runserver parses it."""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from django_asgi_ws.addrport import Address, parse_addrport


def test_no_addrport_is_localhost_port_8000() -> None:
    assert parse_addrport(None) == Address("127.0.0.1", 8000, ipv6=False)


def test_an_empty_addrport_is_the_default_too() -> None:
    assert parse_addrport("") == Address("127.0.0.1", 8000, ipv6=False)


def test_a_port_alone_keeps_the_default_host() -> None:
    assert parse_addrport("8001") == Address("127.0.0.1", 8001, ipv6=False)


def test_port_zero_is_accepted_to_ask_for_a_free_port() -> None:
    assert parse_addrport("0").port == 0


def test_host_zero_means_every_ipv4_interface() -> None:
    assert parse_addrport("0:8000") == Address("0.0.0.0", 8000, ipv6=False)


def test_an_ipv4_address_and_port() -> None:
    assert parse_addrport("1.2.3.4:80") == Address("1.2.3.4", 80, ipv6=False)


def test_a_bracketed_ipv6_address_is_unbracketed_and_switches_to_ipv6() -> None:
    address = parse_addrport("[::1]:8000")
    assert address == Address("::1", 8000, ipv6=True)
    assert address.display() == "http://[::1]:8000/"


def test_a_hostname_and_port() -> None:
    assert parse_addrport("localhost:8000") == Address("localhost", 8000, ipv6=False)


def test_a_fully_qualified_domain_name_and_port() -> None:
    assert parse_addrport("example.com:8000") == Address("example.com", 8000, ipv6=False)


def test_ipv6_without_addrport_is_the_ipv6_loopback() -> None:
    address = parse_addrport(None, use_ipv6=True)
    assert address == Address("::1", 8000, ipv6=True)
    assert address.display() == "http://[::1]:8000/"


def test_ipv6_with_a_port_alone_is_the_ipv6_loopback_on_that_port() -> None:
    assert parse_addrport("8001", use_ipv6=True) == Address("::1", 8001, ipv6=True)


def test_ipv6_with_a_hostname_keeps_the_hostname() -> None:
    assert parse_addrport("localhost:8000", use_ipv6=True) == Address("localhost", 8000, ipv6=True)


def test_ipv6_with_an_ipv4_address_is_an_error() -> None:
    with pytest.raises(CommandError, match=r'"127\.0\.0\.1" is not a valid IPv6 address'):
        parse_addrport("127.0.0.1:8000", use_ipv6=True)


@pytest.mark.parametrize("addrport", ["abc", "8000x", "[::1]", ":8000", "localhost:", "-1"])
def test_malformed_addrports_are_errors(addrport: str) -> None:
    with pytest.raises(CommandError) as failed:
        parse_addrport(addrport)
    assert str(failed.value) == f'"{addrport}" is not a valid port number or address:port pair.'


def test_a_port_above_65535_is_an_error() -> None:
    with pytest.raises(CommandError, match=r"99999 is not a valid port number \(0-65535\)"):
        parse_addrport("99999")


def test_port_65535_is_the_largest_accepted() -> None:
    assert parse_addrport("65535").port == 65535


def test_display_is_the_url_the_banner_shows() -> None:
    assert Address("127.0.0.1", 8000, ipv6=False).display() == "http://127.0.0.1:8000/"


def test_display_with_the_bound_port_replaces_the_requested_one() -> None:
    assert Address("127.0.0.1", 0, ipv6=False).display(54321) == "http://127.0.0.1:54321/"
    assert Address("::1", 0, ipv6=True).display(54321) == "http://[::1]:54321/"


def test_display_does_not_bracket_a_hostname_given_with_ipv6() -> None:
    assert Address("localhost", 8000, ipv6=True).display() == "http://localhost:8000/"
