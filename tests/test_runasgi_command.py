"""runasgi's options, its errors before anything is served, and the application it serves."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.management import CommandError, call_command, load_command_class
from django.test import override_settings

from django_asgi_ws import reloader
from django_asgi_ws.access_log import AccessLogMiddleware
from django_asgi_ws.addrport import Address
from django_asgi_ws.handler import WebSocketApplication
from django_asgi_ws.management.commands.runasgi import Command, production_target
from tests import asgi_app

WITH_STATICFILES = override_settings(
    INSTALLED_APPS=[*django_settings.INSTALLED_APPS, "django.contrib.staticfiles"],
    STATIC_URL="static/",
)


def runasgi() -> Command:
    command = load_command_class("django_asgi_ws", "runasgi")
    assert isinstance(command, Command)
    return command


def parse(*args: str) -> dict[str, Any]:
    return vars(runasgi().create_parser("manage.py", "runasgi").parse_args(args))


def options(**overrides: Any) -> dict[str, Any]:
    """The options handle() receives when no option is given."""
    return {**parse(), **overrides}


@pytest.fixture
def never_binds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if runasgi gets as far as binding its socket."""

    def bind(self: Command, address: Any) -> socket.socket:
        raise AssertionError(f"runasgi tried to bind {address}")

    monkeypatch.setattr(Command, "bind", bind)


@pytest.fixture
def supervisor_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """runasgi as the user started it, not the server process its reloader starts."""
    monkeypatch.delenv(reloader.SERVER_PROCESS_ENV, raising=False)


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that this test is already listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield listener.getsockname()[1]


# The parser -------------------------------------------------------------------------


def test_help_lists_every_runasgi_option() -> None:
    help_text = runasgi().create_parser("manage.py", "runasgi").format_help()
    for option in (
        "addrport",
        "--server {uvicorn,daphne}",
        "--ipv6",
        "--noreload",
        "--nostatic",
        "--insecure",
        "--skip-checks",
    ):
        assert option in help_text


def test_help_does_not_offer_verbosity_or_traceback() -> None:
    help_text = runasgi().create_parser("manage.py", "runasgi").format_help()
    assert "--verbosity" not in help_text
    assert "--traceback" not in help_text


def test_defaults_reload_serve_static_files_and_leave_the_server_to_the_setting() -> None:
    parsed = parse()
    assert parsed["addrport"] is None
    assert parsed["use_reloader"] is True
    assert parsed["use_static_handler"] is True
    assert parsed["insecure_serving"] is False
    assert parsed["use_ipv6"] is False
    assert parsed["skip_checks"] is False
    assert parsed["server"] is None


def test_each_flag_sets_its_option() -> None:
    parsed = parse("0:9000", "--server", "daphne", "-6", "--noreload", "--nostatic", "--insecure")
    assert parsed["addrport"] == "0:9000"
    assert parsed["server"] == "daphne"
    assert parsed["use_ipv6"] is True
    assert parsed["use_reloader"] is False
    assert parsed["use_static_handler"] is False
    assert parsed["insecure_serving"] is True


def test_an_unknown_server_option_is_refused_by_the_parser() -> None:
    with pytest.raises(CommandError, match="invalid choice: 'gunicorn'"):
        parse("--server", "gunicorn")


# Errors before anything binds ----------------------------------------------------------


def test_a_malformed_addrport_is_an_error_before_binding(never_binds: None) -> None:
    with pytest.raises(CommandError, match="is not a valid port number or address:port pair"):
        call_command("runasgi", "abc", stdout=StringIO(), stderr=StringIO())


@override_settings(DEBUG=False, ALLOWED_HOSTS=[])
def test_debug_off_without_allowed_hosts_is_an_error(never_binds: None) -> None:
    with pytest.raises(CommandError) as failed:
        call_command("runasgi", stdout=StringIO(), stderr=StringIO())
    assert str(failed.value) == "You must set settings.ALLOWED_HOSTS if DEBUG is False."


@override_settings(DEBUG=True, ALLOWED_HOSTS=[])
def test_debug_on_without_allowed_hosts_gets_past_the_check(never_binds: None) -> None:
    with pytest.raises(CommandError, match="is not a valid port number"):
        call_command("runasgi", "abc", stdout=StringIO(), stderr=StringIO())


@override_settings(RUNASGI_SERVER="gunicorn")
def test_an_unknown_runasgi_server_setting_is_an_error_naming_the_choices(
    never_binds: None,
) -> None:
    with pytest.raises(CommandError) as failed:
        call_command("runasgi", stdout=StringIO(), stderr=StringIO())
    assert "uvicorn, daphne" in str(failed.value)
    assert "'gunicorn'" in str(failed.value)


def test_a_port_already_in_use_is_an_error(supervisor_process: None, busy_port: int) -> None:
    with pytest.raises(CommandError) as failed:
        call_command("runasgi", str(busy_port), "--noreload", stdout=StringIO(), stderr=StringIO())
    assert str(failed.value) == "Error: That port is already in use."


def ipv6_sockets() -> bool:
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_sockets(), reason="IPv6 sockets are not available")
def test_a_host_that_cannot_be_resolved_is_an_error_naming_the_host() -> None:
    # An IPv4 address asked for on an IPv6 socket fails in getaddrinfo, without DNS.
    with pytest.raises(CommandError) as failed:
        runasgi().bind(Address("0.0.0.0", 0, ipv6=True))
    assert str(failed.value).startswith("Error: '0.0.0.0' cannot be resolved (")


# The application served ------------------------------------------------------------------


def test_without_asgi_application_it_serves_our_handler_behind_the_access_log(
    settings: Any,
) -> None:
    del settings.ASGI_APPLICATION
    application = runasgi().get_application(options())
    assert isinstance(application, AccessLogMiddleware)
    assert isinstance(application.application, WebSocketApplication)


def test_with_asgi_application_it_serves_that_object_behind_the_access_log(
    settings: Any,
) -> None:
    settings.ASGI_APPLICATION = "tests.asgi_app.application"
    application = runasgi().get_application(options())
    assert isinstance(application, AccessLogMiddleware)
    assert application.application is asgi_app.application


@WITH_STATICFILES
@override_settings(DEBUG=True)
def test_with_debug_and_staticfiles_static_files_are_served() -> None:
    application = runasgi().get_application(options())
    assert isinstance(application, AccessLogMiddleware)
    assert isinstance(application.application, ASGIStaticFilesHandler)
    assert isinstance(application.application.application, WebSocketApplication)


@WITH_STATICFILES
@override_settings(DEBUG=True)
def test_static_files_wrap_the_asgi_application_setting_too(settings: Any) -> None:
    settings.ASGI_APPLICATION = "tests.asgi_app.application"
    application = runasgi().get_application(options())
    assert isinstance(application.application, ASGIStaticFilesHandler)
    assert application.application.application is asgi_app.application


@WITH_STATICFILES
@override_settings(DEBUG=False)
def test_with_insecure_static_files_are_served_without_debug() -> None:
    application = runasgi().get_application(options(insecure_serving=True))
    assert isinstance(application.application, ASGIStaticFilesHandler)


@WITH_STATICFILES
@override_settings(DEBUG=False)
def test_without_debug_or_insecure_static_files_are_not_served() -> None:
    application = runasgi().get_application(options())
    assert isinstance(application.application, WebSocketApplication)


@WITH_STATICFILES
@override_settings(DEBUG=True)
def test_nostatic_turns_static_files_off() -> None:
    application = runasgi().get_application(options(use_static_handler=False))
    assert isinstance(application.application, WebSocketApplication)


@override_settings(DEBUG=True)
def test_without_staticfiles_installed_static_files_are_not_served() -> None:
    application = runasgi().get_application(options(insecure_serving=True))
    assert isinstance(application.application, WebSocketApplication)


@pytest.mark.parametrize(
    ("settings_module", "target"),
    [
        ("mysite.settings", "mysite.asgi:application"),
        ("exampleproject.settings", "exampleproject.asgi:application"),
        ("config.settings.local", "config.settings.asgi:application"),
        ("settings", "your project's asgi module"),
    ],
)
def test_the_development_warning_names_the_projects_own_asgi_module(
    monkeypatch: pytest.MonkeyPatch, settings_module: str, target: str
) -> None:
    monkeypatch.setattr(django_settings, "SETTINGS_MODULE", settings_module)
    assert production_target() == target
