"""The versions of the servers' libraries that the adapters are written for.

The adapters subclass the servers' internals: uvicorn's sans-I/O websocket
protocol and HTTP protocols (on websockets' sans-I/O connection), daphne's
Server and websocket protocol (on autobahn's). Outside the ranges below a
server may start and then misbehave on the wire, or not start at all, so
``runasgi`` refuses it with a message naming the range instead.

Each range goes from the oldest release the end-to-end tests pass with to the
next release that may change those internals: the next major version of
uvicorn, websockets and daphne. autobahn numbers its releases by date, not by
compatibility, and the protocol methods used here have long been stable: its
range has no end.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from importlib import metadata

from django_asgi_ws.servers.base import MissingServerError


@dataclass(frozen=True)
class Supported:
    """The releases of *distribution* an adapter supports: from *minimum*, up to *below*."""

    distribution: str
    minimum: str
    below: str | None = None

    @property
    def specifier(self) -> str:
        return f">={self.minimum}" + (f",<{self.below}" if self.below else "")

    def contains(self, version: str) -> bool:
        if release(version) < release(self.minimum):
            return False
        return self.below is None or release(version) < release(self.below)


SUPPORTED: dict[str, tuple[Supported, ...]] = {
    "uvicorn": (
        Supported("uvicorn", "0.52.1", "1.0"),
        # What uvicorn's websocket protocol runs on, when installed (else wsproto).
        Supported("websockets", "13.0", "18"),
    ),
    "daphne": (
        Supported("daphne", "4.2.2", "5"),
        Supported("autobahn", "22.4.2"),
    ),
}


def release(version: str) -> tuple[int, ...]:
    """The release numbers of *version*, to compare: ``"0.52.1"`` gives ``(0, 52, 1, 0)``.

    Pre-, post- and development release tags are ignored: ``"1.0rc1"`` is 1.0.
    """
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", version)
    if match is None:
        raise ValueError(f"Not a version number: {version!r}")
    numbers = [int(part) for part in match.group(1).split(".")]
    return tuple(numbers + [0] * (4 - len(numbers)))


def installed_version(distribution: str) -> str | None:
    """The version of the installed *distribution*, or None if it is not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def check_server_versions(server: str) -> None:
    """Raise MissingServerError unless *server*'s libraries are of versions its adapter supports."""
    for supported in SUPPORTED.get(server, ()):
        version = installed_version(supported.distribution)
        if version is None:
            # Not installed (websockets, when uvicorn runs on wsproto), or without
            # its metadata: the server's import worked, nothing to compare.
            continue
        if not supported.contains(version):
            requirement = f"{supported.distribution}{supported.specifier}"
            raise MissingServerError(
                f"The {server} server of runasgi supports {requirement}, "
                f"but {supported.distribution} {version} is installed: "
                f"pip install '{requirement}'."
            )


def check_websocket_library() -> None:
    """Refuse to run a uvicorn that would serve websocket requests as plain HTTP."""
    libraries = ("websockets", "wsproto")
    if all(importlib.util.find_spec(library) is None for library in libraries):
        raise MissingServerError(
            "uvicorn is installed without a websocket library, so it would serve websocket "
            "requests as plain HTTP: pip install 'uvicorn[standard]'."
        )
