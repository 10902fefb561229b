"""runasgi refuses a server whose libraries are of versions its adapter was not written for."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

from django_asgi_ws.servers import versions
from django_asgi_ws.servers.base import MissingServerError, get_server_class
from django_asgi_ws.servers.versions import Supported, check_server_versions, release

SETUP_CFG = Path(__file__).resolve().parent.parent / "setup.cfg"


def installed(monkeypatch: pytest.MonkeyPatch, **found: str | None) -> None:
    """Pretend these distributions are installed in these versions (None: not installed)."""
    real = versions.installed_version

    def fake(distribution: str) -> str | None:
        return found[distribution] if distribution in found else real(distribution)

    monkeypatch.setattr(versions, "installed_version", fake)


def supported_range(distribution: str) -> Supported:
    ranges = [s for server in versions.SUPPORTED.values() for s in server]
    (supported,) = [s for s in ranges if s.distribution == distribution]
    return supported


# Version numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.52.1", (0, 52, 1, 0)),
        ("4.2", (4, 2, 0, 0)),
        ("26.11.1", (26, 11, 1, 0)),
        ("17.0.1", (17, 0, 1, 0)),
        ("1.0rc1", (1, 0, 0, 0)),
        ("0.30.0.post1", (0, 30, 0, 0)),
        ("2.0.dev3", (2, 0, 0, 0)),
    ],
)
def test_release_reads_the_release_numbers(version: str, expected: tuple[int, ...]) -> None:
    assert release(version) == expected


def test_release_refuses_what_is_no_version() -> None:
    with pytest.raises(ValueError, match="Not a version number"):
        release("unknown")


@pytest.mark.parametrize(
    ("version", "contained"),
    [
        ("0.52.0", False),
        ("0.52.1", True),
        ("0.52.10", True),
        ("0.99", True),
        ("1.0", False),
        ("1.0.0", False),
        ("1.0rc1", False),
    ],
)
def test_a_range_holds_its_minimum_and_stops_before_its_end(version: str, contained: bool) -> None:
    assert Supported("uvicorn", "0.52.1", "1.0").contains(version) is contained


def test_a_range_without_end_holds_every_later_release() -> None:
    supported = Supported("autobahn", "22.4.2")
    assert supported.contains("99.1")
    assert not supported.contains("22.4.1")
    assert supported.specifier == ">=22.4.2"


# The check --------------------------------------------------------------------------------


@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
def test_the_installed_libraries_are_supported(server: str) -> None:
    check_server_versions(server)


@pytest.mark.parametrize(
    ("server", "distribution", "version"),
    [
        ("uvicorn", "uvicorn", "0.34.3"),  # no sans-I/O websocket protocol yet
        ("uvicorn", "uvicorn", "0.52.0"),
        ("uvicorn", "uvicorn", "1.0.0"),
        ("uvicorn", "websockets", "12.0"),
        ("uvicorn", "websockets", "18.0"),
        ("daphne", "daphne", "4.1.2"),  # no websocket_max_message_size yet
        ("daphne", "daphne", "5.0"),
        ("daphne", "autobahn", "21.11.1"),
    ],
)
def test_an_unsupported_version_is_refused_with_the_range_and_the_version(
    monkeypatch: pytest.MonkeyPatch, server: str, distribution: str, version: str
) -> None:
    installed(monkeypatch, **{distribution: version})
    requirement = f"{distribution}{supported_range(distribution).specifier}"
    with pytest.raises(MissingServerError) as refused:
        check_server_versions(server)
    message = str(refused.value)
    assert f"The {server} server of runasgi supports {requirement}" in message
    assert f"but {distribution} {version} is installed" in message
    assert f"pip install '{requirement}'" in message


@pytest.mark.parametrize(
    ("distribution", "version"),
    [("uvicorn", "0.52.1"), ("uvicorn", "0.99.0"), ("websockets", "13.0"), ("websockets", "17.4")],
)
def test_the_ends_of_uvicorns_ranges_are_accepted(
    monkeypatch: pytest.MonkeyPatch, distribution: str, version: str
) -> None:
    installed(monkeypatch, **{distribution: version})
    check_server_versions("uvicorn")


def test_uvicorn_without_websockets_is_not_checked_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn then runs on wsproto; check_websocket_library refuses it if that is missing too."""
    installed(monkeypatch, websockets=None)
    check_server_versions("uvicorn")


def test_a_library_without_metadata_is_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    installed(monkeypatch, daphne=None, autobahn=None)
    check_server_versions("daphne")


@pytest.mark.parametrize(("server", "distribution"), [("uvicorn", "uvicorn"), ("daphne", "daphne")])
def test_choosing_the_server_runs_the_check(
    monkeypatch: pytest.MonkeyPatch, server: str, distribution: str
) -> None:
    installed(monkeypatch, **{distribution: "0.1"})
    with pytest.raises(MissingServerError, match=f"but {distribution} 0.1 is installed"):
        get_server_class(server)


# The requirements ---------------------------------------------------------------------------


def declared_minimum(distribution: str) -> str:
    """The lower bound setup.cfg puts on *distribution*, wherever it is required."""
    setup = configparser.ConfigParser(interpolation=None)
    setup.read(SETUP_CFG, encoding="utf-8")
    lines = setup.get("options", "install_requires").splitlines()
    for _extra, requirements in setup.items("options.extras_require"):
        lines += requirements.splitlines()
    pattern = re.compile(rf"^{re.escape(distribution)}(\[[^\]]*\])?>=([\w.]+)", re.IGNORECASE)
    for line in lines:
        match = pattern.match(line.strip())
        if match:
            return match.group(2)
    raise AssertionError(f"setup.cfg has no lower bound for {distribution}")


@pytest.mark.skipif(not SETUP_CFG.exists(), reason="run from the source tree only")
@pytest.mark.parametrize("distribution", ["uvicorn", "daphne"])
def test_the_declared_requirement_starts_where_the_supported_range_does(
    distribution: str,
) -> None:
    assert release(declared_minimum(distribution)) == release(supported_range(distribution).minimum)
