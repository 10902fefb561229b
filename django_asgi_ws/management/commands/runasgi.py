"""``manage.py runasgi``: runserver's manners, an ASGI server, websockets and fast reloads."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
import threading
from argparse import ArgumentParser
from datetime import datetime
from typing import Any, cast

import django
from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, SystemCheckError
from django.utils.module_loading import import_string

from django_asgi_ws import reloader
from django_asgi_ws.access_log import AccessLogMiddleware
from django_asgi_ws.addrport import Address, parse_addrport
from django_asgi_ws.asgi_types import ASGIApp
from django_asgi_ws.conf import conf, get_settings
from django_asgi_ws.servers import (
    SERVER_NAMES,
    MissingServerError,
    Server,
    ServerOptions,
    get_server_class,
)
from django_asgi_ws.servers.base import check_server_installed
from django_asgi_ws.status import CloseCode
from django_asgi_ws.supervisor import Supervisor

BIND_ERRORS = {
    errno.EACCES: "You don't have permission to access that port.",
    errno.EADDRINUSE: "That port is already in use.",
    errno.EADDRNOTAVAIL: "That IP address can't be assigned to.",
}


class Command(BaseCommand):
    """``runserver`` for the ASGI application: same arguments and manners, uvicorn or daphne.

    The command binds the socket, then (unless ``--noreload``) starts the
    server in a child process that a supervisor restarts on every code change,
    handing the still-bound socket over.
    """

    help = (
        "Starts a development ASGI server (uvicorn or daphne) that serves Django "
        "and its websocket routes, and restarts it when code changes."
    )
    # Checks run in the server process, after each reload, as runserver does.
    requires_system_checks = []  # noqa: RUF012 - BaseCommand declares it per instance
    suppressed_base_arguments = {"--verbosity", "--traceback"}  # noqa: RUF012

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("addrport", nargs="?", help="Optional port number, or ipaddr:port")
        parser.add_argument(
            "--server",
            choices=SERVER_NAMES,
            help="The ASGI server to run (default: the RUNASGI_SERVER setting, or uvicorn).",
        )
        parser.add_argument(
            "--ipv6", "-6", action="store_true", dest="use_ipv6", help="Use an IPv6 address."
        )
        parser.add_argument(
            "--noreload",
            action="store_false",
            dest="use_reloader",
            help="Do not restart the server when code changes.",
        )
        parser.add_argument(
            "--nostatic",
            action="store_false",
            dest="use_static_handler",
            help="Do not serve static files automatically (with django.contrib.staticfiles).",
        )
        parser.add_argument(
            "--insecure",
            action="store_true",
            dest="insecure_serving",
            help="Serve static files even if DEBUG is False.",
        )
        parser.add_argument("--skip-checks", action="store_true", help="Skip system checks.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not settings.ALLOWED_HOSTS:
            raise CommandError("You must set settings.ALLOWED_HOSTS if DEBUG is False.")
        address = parse_addrport(options["addrport"], options["use_ipv6"])
        server_name = options["server"] or get_settings().runasgi_server
        if server_name not in SERVER_NAMES:
            raise CommandError(
                f"RUNASGI_SERVER must be one of {', '.join(SERVER_NAMES)}, not {server_name!r}."
            )
        if reloader.is_server_process():
            server_class = self.load_server_class(server_name)
            listen_fd = int(os.environ[reloader.LISTEN_FD_ENV])

            def serve() -> None:
                with contextlib.suppress(SystemCheckError):  # shown already
                    self.serve(server_class, address, listen_fd, options)

            reloader.watch_and_serve(serve, self.stop_server, self.stop_accepting)
            return
        if options["use_reloader"]:
            # The server process imports the server: here, only whether it can.
            try:
                check_server_installed(server_name)
            except MissingServerError as exc:
                raise CommandError(str(exc)) from exc
            listen_socket = self.bind(address)
            # Read before the checks run: only False turns warm starts off.
            warm_start = conf.RUNASGI_WARM_START is not False
            supervisor = Supervisor(
                listen_socket.fileno(),
                _stop_grace(),
                warm_start,
                # What the server process imports that this one did not.
                preload=(f"django_asgi_ws.servers.{server_name}_server", "django_asgi_ws.asgi"),
            )
            sys.exit(supervisor.run())
        server_class = self.load_server_class(server_name)
        listen_socket = self.bind(address)
        self.serve_until_interrupted(server_class, address, listen_socket.fileno(), options)

    # Before anything binds ------------------------------------------------------

    def load_server_class(self, name: str) -> type[Server]:
        """The server adapter named *name*; CommandError naming what to install if it is missing."""
        try:
            server_class = get_server_class(name)
        except MissingServerError as exc:
            raise CommandError(str(exc)) from exc
        return server_class

    def bind(self, address: Address) -> socket.socket:
        """A listening socket on *address*; CommandError with runserver's messages if it fails."""
        family = socket.AF_INET6 if address.ipv6 else socket.AF_INET
        try:
            listen_socket = socket.socket(family, socket.SOCK_STREAM)
        except OSError as exc:
            raise CommandError(f"Error: cannot open a socket: {exc}") from exc
        listen_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listen_socket.bind((address.host, address.port))
        except (socket.gaierror, UnicodeError) as exc:  # gaierror is an OSError: first
            listen_socket.close()
            raise CommandError(f"Error: {address.host!r} cannot be resolved ({exc}).") from exc
        except OSError as exc:
            listen_socket.close()
            message = BIND_ERRORS.get(exc.errno or 0, str(exc))
            raise CommandError(f"Error: {message}") from exc
        listen_socket.listen(2048)
        listen_socket.set_inheritable(True)
        return listen_socket

    # Serving --------------------------------------------------------------------

    def serve_until_interrupted(
        self, server_class: type[Server], address: Address, listen_fd: int, options: dict[str, Any]
    ) -> None:
        """--noreload: serve in a thread, stop with 1001 on Ctrl-C or SIGTERM."""
        import signal

        signal.signal(signal.SIGTERM, signal.default_int_handler)
        failed = threading.Event()
        finished = threading.Event()

        def serve() -> None:
            try:
                self.serve(server_class, address, listen_fd, options)
            except BaseException:
                failed.set()
                raise
            finally:
                finished.set()

        thread = threading.Thread(target=serve, name="django-main-thread", daemon=True)
        thread.start()
        try:
            # Not thread.join(timeout): before Python 3.13 an interrupt inside it can
            # mark the thread finished while it still serves (CPython gh-90882).
            while not finished.wait(0.5):
                pass
        except KeyboardInterrupt:
            self.stop_server(CloseCode.GOING_AWAY)
            finished.wait()
        thread.join()
        if failed.is_set():
            sys.exit(1)

    def serve(
        self, server_class: type[Server], address: Address, listen_fd: int, options: dict[str, Any]
    ) -> None:
        """Checks, migrations warning, then serve; the body of one server process."""
        if not options["skip_checks"]:
            self.stdout.write("Performing system checks...\n\n")
            try:
                self.check(display_num_errors=True)
            except SystemCheckError as exc:
                # Shown as runserver shows it; the reloader keeps watching for the fix.
                self.stderr.write(str(exc))
                raise

        self.check_migrations()
        application = self.get_application(options)
        server = server_class(
            application,
            ServerOptions.from_settings(
                get_settings(),
                host=address.host,
                port=address.port,
                fd=listen_fd,
                install_signal_handlers=False,
            ),
        )
        self._server = server
        if self._stop_code is not None:
            return  # stopped while checks ran

        def on_ready(host: str, port: int) -> None:
            reloader.report_to_supervisor("ready")
            self.print_banner(server, address, port)

        server.run(on_ready)

    _server: Server | None = None
    _stop_code: int | None = None

    def stop_server(self, close_code: int) -> None:
        """Close open websockets with *close_code* and stop serving (1012 reload, 1001 exit)."""
        self._stop_code = close_code
        if self._server is not None:
            self._server.stop(close_code)

    def stop_accepting(self) -> None:
        """Accept no new connection: the next server process takes them (before a reload)."""
        if self._server is not None:
            self._server.stop_accepting()

    def get_application(self, options: dict[str, Any]) -> ASGIApp:
        """ASGI_APPLICATION if set, else ours; static files and access log added for dev."""
        dotted_path = get_settings().asgi_application
        if dotted_path:
            application: ASGIApp = import_string(dotted_path)
        else:
            from django_asgi_ws.asgi import get_asgi_application

            application = get_asgi_application()
        serve_static = options["use_static_handler"] and (
            settings.DEBUG or options["insecure_serving"]
        )
        if serve_static and apps.is_installed("django.contrib.staticfiles"):
            from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

            application = ASGIStaticFilesHandler(cast(Any, application))
        return AccessLogMiddleware(application)

    def print_banner(self, server: Server, address: Address, port: int) -> None:
        """runserver's banner, and its production warning unless DJANGO_RUNSERVER_HIDE_WARNING."""
        now = datetime.now().strftime("%B %d, %Y - %X")
        self.stdout.write(
            f"{now}\n"
            f"Django version {django.get_version()}, using settings "
            f"{settings.SETTINGS_MODULE!r}\n"
            f"Starting ASGI server ({server.name} {server.version}) at "
            f"{address.display(port)}\n"
            "Quit the server with CONTROL-C.\n"
        )
        if os.environ.get("DJANGO_RUNSERVER_HIDE_WARNING") != "true":
            self.stdout.write(
                self.style.WARNING(
                    "WARNING: This is a development server. Do not use it in a production "
                    f"setting. Run uvicorn or daphne on {production_target()} instead."
                )
            )
        self.stdout.flush()


def production_target() -> str:
    """The application a production server should load, named after the settings' package
    as ``startproject`` lays a project out (``mysite.settings`` -> ``mysite.asgi``)."""
    package, _, _ = str(settings.SETTINGS_MODULE).rpartition(".")
    return f"{package}.asgi:application" if package else "your project's asgi module"


def _stop_grace() -> float:
    """How long the supervisor lets a stopping server process take before killing it.

    Read before the server process has run the checks, so a wrong value (which
    they report) falls back to the default here.
    """
    timeout = conf.WEBSOCKET_SHUTDOWN_TIMEOUT
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
        return float(timeout) + 5
    return ServerOptions().shutdown_timeout + 5
