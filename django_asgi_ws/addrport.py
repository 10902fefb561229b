"""The ``[addr:]port`` argument, parsed exactly as ``runserver`` parses it."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

from django.core.management import CommandError
from django.core.management.commands.runserver import naiveip_re

DEFAULT_ADDR = "127.0.0.1"
DEFAULT_ADDR_IPV6 = "::1"
DEFAULT_PORT = 8000


@dataclass(frozen=True)
class Address:
    host: str  # what to bind: "0" becomes "0.0.0.0", brackets are stripped
    port: int
    ipv6: bool

    def display(self, port: int | None = None) -> str:
        """``http://host:port/`` as the banner shows it."""
        host = f"[{self.host}]" if self.ipv6 and ":" in self.host else self.host
        return f"http://{host}:{self.port if port is None else port}/"


def parse_addrport(addrport: str | None, use_ipv6: bool = False) -> Address:
    if use_ipv6 and not socket.has_ipv6:
        raise CommandError("Your Python does not support IPv6.")
    host = ""
    port = str(DEFAULT_PORT)
    if addrport:
        match = re.match(naiveip_re, addrport)
        if match is None:
            raise CommandError(f'"{addrport}" is not a valid port number or address:port pair.')
        addr, _ipv4, ipv6, fqdn, port = match.groups()
        if addr:
            if ipv6:
                host, use_ipv6 = addr[1:-1], True
            elif use_ipv6 and not fqdn:
                raise CommandError(f'"{addr}" is not a valid IPv6 address.')
            else:
                host = addr
    if not host:
        host = DEFAULT_ADDR_IPV6 if use_ipv6 else DEFAULT_ADDR
    if host == "0":
        host = "0.0.0.0"
    number = int(port)
    if number > 65535:
        raise CommandError(f"{number} is not a valid port number (0-65535).")
    return Address(host, number, use_ipv6)
