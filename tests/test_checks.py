"""The system checks: a misconfigured project fails ``manage.py check``."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_asgi_ws import checks
from django_asgi_ws.tickets.checks import check_deploy_ticket_cache, check_ticket_settings
from tests import ws_views


@pytest.fixture
def make_urlconf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """Write a module with the given source; return its dotted name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    names: list[str] = []

    def make(source: str) -> str:
        name = f"ws_urls_{uuid.uuid4().hex}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        names.append(name)
        return name

    yield make
    for name in names:
        sys.modules.pop(name, None)


def error_ids(messages: list[Any]) -> list[str]:
    return [message.id for message in messages]


def test_the_test_urlconf_passes() -> None:
    assert checks.check_urlconf() == []


# E001: the setting ----------------------------------------------------------------


def test_an_unset_websocket_urlconf_is_e001(settings: Any) -> None:
    del settings.WEBSOCKET_URLCONF
    errors = checks.check_urlconf()
    assert error_ids(errors) == ["django_asgi_ws.E001"]
    assert "it is None" in errors[0].msg


def test_an_empty_websocket_urlconf_is_e001(settings: Any) -> None:
    settings.WEBSOCKET_URLCONF = ""
    assert error_ids(checks.check_urlconf()) == ["django_asgi_ws.E001"]


def test_a_websocket_urlconf_that_is_not_a_string_is_e001(settings: Any) -> None:
    settings.WEBSOCKET_URLCONF = ws_views
    errors = checks.check_urlconf()
    assert error_ids(errors) == ["django_asgi_ws.E001"]
    assert "must be the dotted path of a module" in errors[0].msg


# E002: the module ---------------------------------------------------------------


def test_a_missing_module_is_e002(settings: Any) -> None:
    settings.WEBSOCKET_URLCONF = "tests.no_such_ws_urls"
    errors = checks.check_urlconf()
    assert error_ids(errors) == ["django_asgi_ws.E002"]
    assert "ModuleNotFoundError" in errors[0].msg
    assert "tests.no_such_ws_urls" in errors[0].msg


def test_a_module_raising_on_import_is_e002_naming_the_exception(
    settings: Any, make_urlconf: Callable[[str], str]
) -> None:
    settings.WEBSOCKET_URLCONF = make_urlconf('raise RuntimeError("database not ready")\n')
    errors = checks.check_urlconf()
    assert error_ids(errors) == ["django_asgi_ws.E002"]
    assert "RuntimeError: database not ready" in errors[0].msg


def test_an_include_of_a_missing_module_is_e002(
    settings: Any, make_urlconf: Callable[[str], str]
) -> None:
    settings.WEBSOCKET_URLCONF = make_urlconf(
        """
        from django.urls import include, path

        urlpatterns = [path("ws/", include("tests.no_such_ws_urls"))]
        """
    )
    errors = checks.check_urlconf()
    assert error_ids(errors) == ["django_asgi_ws.E002"]
    assert "No module named 'tests.no_such_ws_urls'" in errors[0].msg


def test_an_include_of_a_module_without_urlpatterns_is_e002(
    settings: Any, make_urlconf: Callable[[str], str]
) -> None:
    settings.WEBSOCKET_URLCONF = make_urlconf(
        """
        from django.urls import include, path

        urlpatterns = [path("ws/", include("tests.ws_urls_no_patterns"))]
        """
    )
    errors = checks.check_urlconf()
    assert error_ids(errors) == ["django_asgi_ws.E002"]
    assert "cannot be loaded" in errors[0].msg
    assert "tests.ws_urls_no_patterns" in errors[0].msg


# E003: urlpatterns ----------------------------------------------------------------


def test_a_module_without_urlpatterns_is_e003(settings: Any) -> None:
    settings.WEBSOCKET_URLCONF = "tests.ws_urls_no_patterns"
    errors = checks.check_urlconf()
    assert error_ids(errors) == ["django_asgi_ws.E003"]
    assert "'tests.ws_urls_no_patterns' has no urlpatterns list" in errors[0].msg


@pytest.mark.parametrize(
    "assignment",
    [
        'urlpatterns = path("ws/ping/", ping)',  # the brackets forgotten
        'urlpatterns = "ws/ping/"',
        "urlpatterns = None",
    ],
)
def test_urlpatterns_that_are_not_a_list_are_e003(
    settings: Any, make_urlconf: Callable[[str], str], assignment: str
) -> None:
    settings.WEBSOCKET_URLCONF = make_urlconf(
        f"from django.urls import path\nfrom tests.ws_views import ping\n{assignment}\n"
    )
    assert error_ids(checks.check_urlconf()) == ["django_asgi_ws.E003"]


def test_urlpatterns_as_a_tuple_pass(settings: Any, make_urlconf: Callable[[str], str]) -> None:
    settings.WEBSOCKET_URLCONF = make_urlconf(
        """
        from django.urls import path
        from tests.ws_views import ping

        urlpatterns = (path("ws/ping/", ping),)
        """
    )
    assert checks.check_urlconf() == []


# E013: Django's HTTP access decorators ---------------------------------------------


@pytest.mark.parametrize(
    ("decorator", "named"),
    [
        ("login_required", "login_required"),
        ("permission_required('auth.view_user')", "permission_required"),
        ("user_passes_test(lambda user: user.is_staff)", "user_passes_test"),
    ],
)
def test_a_view_wrapped_by_djangos_own_access_decorator_is_e013_naming_ours(
    settings: Any, make_urlconf: Callable[[str], str], decorator: str, named: str
) -> None:
    settings.WEBSOCKET_URLCONF = make_urlconf(
        f"""
        from django.contrib.auth.decorators import {named}
        from django.urls import path
        from tests.ws_views import ping

        urlpatterns = [path("ws/private/", {decorator}(ping))]
        """
    )
    [error] = checks.check_urlconf()
    assert error.id == "django_asgi_ws.E013"
    assert f"'ws/private/' is wrapped by Django's {named}" in error.msg
    assert error.hint == f"Use django_asgi_ws.decorators.{named} instead."


def test_our_access_decorators_pass_the_checks(
    settings: Any, make_urlconf: Callable[[str], str]
) -> None:
    settings.WEBSOCKET_URLCONF = make_urlconf(
        """
        from django.urls import path
        from django_asgi_ws.decorators import login_required, permission_required
        from tests.ws_views import ping

        urlpatterns = [
            path("ws/private/", login_required(ping)),
            path("ws/staff/", permission_required("auth.view_user")(ping)),
        ]
        """
    )
    assert checks.check_urlconf() == []


# E004: sync views ------------------------------------------------------------------


def test_a_sync_function_route_is_e004_naming_the_route_and_the_function(settings: Any) -> None:
    settings.WEBSOCKET_URLCONF = "tests.bad_ws_urls"
    errors = [error for error in checks.check_urlconf() if "'ws/sync/'" in error.msg]
    assert error_ids(errors) == ["django_asgi_ws.E004"]
    assert "points to sync_view, which is not an async function" in errors[0].msg
    assert errors[0].obj is ws_views.sync_view


def test_a_sync_function_inside_an_include_is_e004_with_the_full_route(settings: Any) -> None:
    settings.WEBSOCKET_URLCONF = "tests.bad_ws_urls"
    errors = [error for error in checks.check_urlconf() if "'ws/nested/sync/'" in error.msg]
    assert error_ids(errors) == ["django_asgi_ws.E004"]
    assert "sync_view" in errors[0].msg


def test_e004_is_reported_once_per_sync_route_and_never_for_async_ones(settings: Any) -> None:
    settings.WEBSOCKET_URLCONF = "tests.bad_ws_urls"
    errors = checks.check_urlconf()
    assert error_ids(errors) == ["django_asgi_ws.E004", "django_asgi_ws.E004"]
    assert not any("ping" in error.msg for error in errors)


def test_a_view_class_instead_of_as_view_is_e004(
    settings: Any, make_urlconf: Callable[[str], str]
) -> None:
    settings.WEBSOCKET_URLCONF = make_urlconf(
        """
        from django.urls import path
        from tests.ws_views import JSONCounter

        urlpatterns = [path("ws/counter/", JSONCounter)]
        """
    )
    errors = checks.check_urlconf()
    assert error_ids(errors) == ["django_asgi_ws.E004"]
    assert "points to JSONCounter" in errors[0].msg


# E005: a websocket library for uvicorn ----------------------------------------------


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Have importlib.util.find_spec, which the checks call, report modules installed or not."""
    real_find_spec = importlib.util.find_spec

    def hide(**present: bool) -> None:
        def find_spec(name: str, package: str | None = None) -> Any:
            if name in present:
                return importlib.machinery.ModuleSpec(name, None) if present[name] else None
            return real_find_spec(name, package)

        monkeypatch.setattr(importlib.util, "find_spec", find_spec)  # as checks calls it

    return hide


def test_uvicorn_without_websockets_or_wsproto_is_e005(installed: Callable[..., None]) -> None:
    installed(uvicorn=True, websockets=False, wsproto=False)
    errors = checks.check_websocket_library()
    assert error_ids(errors) == ["django_asgi_ws.E005"]
    assert "uvicorn is installed without a websocket library" in errors[0].msg


def test_uvicorn_with_websockets_passes(installed: Callable[..., None]) -> None:
    installed(uvicorn=True, websockets=True, wsproto=False)
    assert checks.check_websocket_library() == []


def test_uvicorn_with_wsproto_only_passes(installed: Callable[..., None]) -> None:
    installed(uvicorn=True, websockets=False, wsproto=True)
    assert checks.check_websocket_library() == []


def test_without_uvicorn_no_websocket_library_is_needed(installed: Callable[..., None]) -> None:
    installed(uvicorn=False, websockets=False, wsproto=False)
    assert checks.check_websocket_library() == []


# manage.py check ------------------------------------------------------------------


def test_check_command_passes_with_the_test_settings() -> None:
    stdout = StringIO()
    call_command("check", stdout=stdout, stderr=StringIO())
    assert "System check identified no issues" in stdout.getvalue()


def test_check_command_fails_naming_e004_for_a_sync_view(settings: Any) -> None:
    settings.WEBSOCKET_URLCONF = "tests.bad_ws_urls"
    with pytest.raises(SystemCheckError) as failed:
        call_command("check", stdout=StringIO(), stderr=StringIO())
    assert "django_asgi_ws.E004" in str(failed.value)
    assert "'ws/sync/'" in str(failed.value)


def test_check_command_reports_e005_under_the_compatibility_tag(
    installed: Callable[..., None],
) -> None:
    installed(uvicorn=True, websockets=False, wsproto=False)
    with pytest.raises(SystemCheckError, match=r"django_asgi_ws\.E005"):
        call_command("check", "--tag", "compatibility", stdout=StringIO(), stderr=StringIO())


# E006-E008: the server settings -------------------------------------------------------


def test_the_default_server_settings_pass() -> None:
    assert checks.check_server_settings() == []


@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
def test_each_known_runasgi_server_passes(settings: Any, server: str) -> None:
    settings.RUNASGI_SERVER = server
    assert checks.check_server_settings() == []


def test_an_unknown_runasgi_server_is_e006_naming_the_choices(settings: Any) -> None:
    settings.RUNASGI_SERVER = "gunicorn"
    errors = checks.check_server_settings()
    assert error_ids(errors) == ["django_asgi_ws.E006"]
    assert "must be one of uvicorn, daphne" in errors[0].msg
    assert "'gunicorn'" in errors[0].msg


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_warm_start_passes(settings: Any, value: bool) -> None:
    settings.RUNASGI_WARM_START = value
    assert checks.check_server_settings() == []


@pytest.mark.parametrize("value", [0, 1, "yes", None])
def test_a_warm_start_that_is_not_a_boolean_is_e032(settings: Any, value: Any) -> None:
    settings.RUNASGI_WARM_START = value
    errors = checks.check_server_settings()
    assert error_ids(errors) == ["django_asgi_ws.E032"]
    assert f"it is {value!r}" in errors[0].msg


@pytest.mark.parametrize("size", [0, -1, "big", True, 1.5])
def test_a_max_message_size_that_is_not_a_positive_int_is_e007(settings: Any, size: Any) -> None:
    settings.WEBSOCKET_MAX_MESSAGE_SIZE = size
    errors = checks.check_server_settings()
    assert error_ids(errors) == ["django_asgi_ws.E007"]
    assert f"it is {size!r}" in errors[0].msg


@pytest.mark.parametrize("size", [1, 64 * 1024 * 1024])
def test_a_positive_max_message_size_passes(settings: Any, size: int) -> None:
    settings.WEBSOCKET_MAX_MESSAGE_SIZE = size
    assert checks.check_server_settings() == []


@pytest.mark.parametrize("name", ["WEBSOCKET_PING_INTERVAL", "WEBSOCKET_PING_TIMEOUT"])
@pytest.mark.parametrize("value", [0, -5, "x", True])
def test_a_ping_setting_that_is_not_a_positive_number_is_e008(
    settings: Any, name: str, value: Any
) -> None:
    setattr(settings, name, value)
    errors = checks.check_server_settings()
    assert error_ids(errors) == ["django_asgi_ws.E008"]
    assert name in errors[0].msg
    assert f"it is {value!r}" in errors[0].msg


@pytest.mark.parametrize("name", ["WEBSOCKET_PING_INTERVAL", "WEBSOCKET_PING_TIMEOUT"])
@pytest.mark.parametrize("value", [None, 0.5, 30])
def test_a_ping_setting_of_none_or_a_positive_number_passes(
    settings: Any, name: str, value: Any
) -> None:
    setattr(settings, name, value)
    assert checks.check_server_settings() == []


@pytest.mark.parametrize("value", [0, -1, 1.5, "20000", True])
def test_a_gc_threshold_that_is_not_a_positive_int_is_e036(settings: Any, value: Any) -> None:
    settings.WEBSOCKET_GC_THRESHOLD = value
    errors = checks.check_server_settings()
    assert error_ids(errors) == ["django_asgi_ws.E036"]
    assert f"it is {value!r}" in errors[0].msg


@pytest.mark.parametrize("value", [None, 700, 100_000])
def test_a_gc_threshold_of_none_or_a_positive_int_passes(settings: Any, value: Any) -> None:
    settings.WEBSOCKET_GC_THRESHOLD = value
    assert checks.check_server_settings() == []


@pytest.mark.parametrize("value", [0, -0.5, "0.5", True, float("inf"), float("nan")])
def test_a_blocked_loop_warning_that_is_not_positive_seconds_is_e035(
    settings: Any, value: Any
) -> None:
    settings.WEBSOCKET_BLOCKED_LOOP_WARNING = value
    errors = checks.check_server_settings()
    assert error_ids(errors) == ["django_asgi_ws.E035"]
    assert f"it is {value!r}" in errors[0].msg


@pytest.mark.parametrize("value", [None, 0.05, 1, 2.5])
def test_a_blocked_loop_warning_of_none_or_positive_seconds_passes(
    settings: Any, value: Any
) -> None:
    settings.WEBSOCKET_BLOCKED_LOOP_WARNING = value
    assert checks.check_server_settings() == []


@pytest.mark.parametrize(
    ("name", "error_id"),
    [
        ("WEBSOCKET_SHUTDOWN_TIMEOUT", "django_asgi_ws.E014"),
        ("WEBSOCKET_CLOSE_TIMEOUT", "django_asgi_ws.E037"),
    ],
)
@pytest.mark.parametrize("value", [0, -1, None, "5", True])
def test_a_server_timeout_that_is_not_a_positive_number_is_an_error(
    settings: Any, name: str, error_id: str, value: Any
) -> None:
    setattr(settings, name, value)
    errors = checks.check_server_settings()
    assert error_ids(errors) == [error_id]
    assert f"{name} must be a positive number of seconds; it is {value!r}." == errors[0].msg


@pytest.mark.parametrize("value", [0.1, 5, 60.0])
def test_a_positive_close_timeout_passes(settings: Any, value: Any) -> None:
    settings.WEBSOCKET_CLOSE_TIMEOUT = value
    assert checks.check_server_settings() == []


def test_every_bad_server_setting_is_reported_at_once(settings: Any) -> None:
    settings.RUNASGI_SERVER = "gunicorn"
    settings.WEBSOCKET_MAX_MESSAGE_SIZE = 0
    settings.WEBSOCKET_PING_INTERVAL = 0
    settings.WEBSOCKET_PING_TIMEOUT = "x"
    assert error_ids(checks.check_server_settings()) == [
        "django_asgi_ws.E006",
        "django_asgi_ws.E007",
        "django_asgi_ws.E008",
        "django_asgi_ws.E008",
    ]


def test_check_command_reports_e006(settings: Any) -> None:
    settings.RUNASGI_SERVER = "gunicorn"
    with pytest.raises(SystemCheckError, match=r"django_asgi_ws\.E006"):
        call_command("check", stdout=StringIO(), stderr=StringIO())


# E009-E012, W001: the security settings -----------------------------------------------


def test_the_default_security_settings_pass() -> None:
    assert checks.check_security_settings() == []
    assert checks.check_deploy_origins() == []


@pytest.mark.parametrize("value", ["https://example.com", {"https://example.com"}, 1])
def test_allowed_origins_that_are_not_a_list_are_e009(settings: Any, value: Any) -> None:
    settings.WEBSOCKET_ALLOWED_ORIGINS = value
    errors = checks.check_security_settings()
    assert error_ids(errors) == ["django_asgi_ws.E009"]
    assert "must be a list of origins or None" in errors[0].msg


def test_an_allowed_origin_without_a_scheme_is_e009(settings: Any) -> None:
    settings.WEBSOCKET_ALLOWED_ORIGINS = ["https://ok.example", "example.com", 3]
    errors = checks.check_security_settings()
    assert error_ids(errors) == ["django_asgi_ws.E009", "django_asgi_ws.E009"]
    assert "'example.com'" in errors[0].msg
    assert "scheme://host[:port]" in str(errors[0].hint)


@pytest.mark.parametrize(
    "value", [[], ("https://a.example",), ["*"], ["null"], ["https://*.example.com"]]
)
def test_valid_allowed_origins_pass(settings: Any, value: Any) -> None:
    settings.WEBSOCKET_ALLOWED_ORIGINS = value
    assert checks.check_security_settings() == []


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_allow_missing_origin_must_be_a_bool_e010(settings: Any, value: Any) -> None:
    settings.WEBSOCKET_ALLOW_MISSING_ORIGIN = value
    assert error_ids(checks.check_security_settings()) == ["django_asgi_ws.E010"]


@pytest.mark.parametrize("value", [0, -1, "10", True])
def test_a_bad_handshake_timeout_is_e011(settings: Any, value: Any) -> None:
    settings.WEBSOCKET_HANDSHAKE_TIMEOUT = value
    assert error_ids(checks.check_security_settings()) == ["django_asgi_ws.E011"]


@pytest.mark.parametrize("value", ["fast", "10/d", 10, "0/s"])
def test_a_bad_rate_limit_is_e012(settings: Any, value: Any) -> None:
    settings.WEBSOCKET_RATE_LIMIT = value
    errors = checks.check_security_settings()
    assert error_ids(errors) == ["django_asgi_ws.E012"]
    assert 'A rate looks like "20/s"' in errors[0].msg


def test_allowing_every_origin_is_w001_in_deploy_checks(settings: Any) -> None:
    settings.WEBSOCKET_ALLOWED_ORIGINS = ["*"]
    assert checks.check_security_settings() == []
    warnings = checks.check_deploy_origins()
    assert error_ids(warnings) == ["django_asgi_ws.W001"]
    stderr = StringIO()
    # Django 6.1 reports the test runner's in-memory mailer as a deploy error.
    call_command("check", "--deploy", "--fail-level", "CRITICAL", stdout=StringIO(), stderr=stderr)
    assert "django_asgi_ws.W001" in stderr.getvalue()


def test_check_command_reports_e012(settings: Any) -> None:
    settings.WEBSOCKET_RATE_LIMIT = "lots"
    with pytest.raises(SystemCheckError, match=r"django_asgi_ws\.E012"):
        call_command("check", stdout=StringIO(), stderr=StringIO())


# E033, E034, W033, W034: the ticket settings ---------------------------------------------

LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
DUMMY = {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
DATABASE_CACHE = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "t"}


def test_the_default_ticket_settings_pass() -> None:
    assert check_ticket_settings() == []


@pytest.mark.parametrize("value", [30, 0.5, 600])
def test_a_positive_ticket_max_age_passes(settings: Any, value: Any) -> None:
    settings.WEBSOCKET_TICKET_MAX_AGE = value
    assert check_ticket_settings() == []


@pytest.mark.parametrize("value", [0, -1, "60", True, None])
def test_a_ticket_max_age_that_is_not_a_positive_number_is_e033(settings: Any, value: Any) -> None:
    settings.WEBSOCKET_TICKET_MAX_AGE = value
    errors = check_ticket_settings()
    assert error_ids(errors) == ["django_asgi_ws.E033"]
    assert f"it is {value!r}" in errors[0].msg


@pytest.mark.parametrize("value", ["elsewhere", None, 1])
def test_a_ticket_cache_that_is_not_an_alias_in_caches_is_e034(settings: Any, value: Any) -> None:
    settings.CACHES = {"default": LOCMEM, "shared": DATABASE_CACHE}
    settings.WEBSOCKET_TICKET_CACHE = value
    errors = check_ticket_settings()
    assert error_ids(errors) == ["django_asgi_ws.E034"]
    assert "'default', 'shared'" in str(errors[0].hint)


def test_a_shared_ticket_cache_passes_the_deploy_checks(settings: Any) -> None:
    settings.CACHES = {"default": LOCMEM, "shared": DATABASE_CACHE}
    settings.WEBSOCKET_TICKET_CACHE = "shared"
    assert check_ticket_settings() == []
    assert check_deploy_ticket_cache() == []


def test_a_per_process_ticket_cache_is_w033_in_deploy_checks(settings: Any) -> None:
    settings.CACHES = {"default": LOCMEM}
    warnings = check_deploy_ticket_cache()
    assert error_ids(warnings) == ["django_asgi_ws.W033"]
    assert "once per process" in warnings[0].msg
    stderr = StringIO()
    call_command("check", "--deploy", "--fail-level", "CRITICAL", stdout=StringIO(), stderr=stderr)
    assert "django_asgi_ws.W033" in stderr.getvalue()


def test_a_dummy_ticket_cache_is_w034_in_deploy_checks(settings: Any) -> None:
    settings.CACHES = {"default": LOCMEM, "dummy": DUMMY}
    settings.WEBSOCKET_TICKET_CACHE = "dummy"
    warnings = check_deploy_ticket_cache()
    assert error_ids(warnings) == ["django_asgi_ws.W034"]
    assert "ImproperlyConfigured" in warnings[0].msg


def test_a_ticket_cache_with_no_importable_backend_is_left_to_djangos_checks(
    settings: Any,
) -> None:
    settings.CACHES = {"default": LOCMEM, "broken": {"BACKEND": "no.such.Cache"}}
    settings.WEBSOCKET_TICKET_CACHE = "broken"
    assert check_ticket_settings() == []
    assert check_deploy_ticket_cache() == []


def test_check_command_reports_e033(settings: Any) -> None:
    settings.WEBSOCKET_TICKET_MAX_AGE = "a minute"
    with pytest.raises(SystemCheckError, match=r"django_asgi_ws\.E033"):
        call_command("check", stdout=StringIO(), stderr=StringIO())
