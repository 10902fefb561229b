"""The warm parent: a process that has imported Django, the server and third-party modules,
and forks a fresh server process for each start of ``runasgi``.

A reload used to start a new interpreter that imported everything again
before the project's own code, none of which changed. The warm parent imports
once what the last server process used, except the project's own modules, and
each start is a ``fork()`` whose child runs ``manage.py`` as a new interpreter
would: ``django.setup()`` imports the settings and the project there, fresh.

It must never hold the project's modules, anything derived from settings,
threads, event loops or open files: :mod:`django_asgi_ws.preload` keeps them
out, and a warm parent that caught one anyway (it is *tainted*) names the
module to blame and exits; the supervisor starts another without it. Before
each fork it checks that nothing it imported changed since (``pip install
-U``), and answers *stale* if something did: the supervisor then starts the
server process in a new interpreter, as without a warm parent.

It talks to the supervisor over a socket of JSON lines (see
:mod:`django_asgi_ws.server_process`) and runs as
``python -m django_asgi_ws.warm_parent <fd>``.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import runpy
import selectors
import signal
import socket
import sys
from typing import Any

from django_asgi_ws.preload import Fingerprint, Tainted, preload


def main(control_fd: int) -> None:
    gc.disable()  # nothing worth collecting while importing; frozen before forking
    control = socket.socket(fileno=control_fd)
    reader = control.makefile("r", encoding="utf-8")
    order = _receive(reader)
    if order is None:
        return
    sys.argv[:] = order["argv"]  # as the server process will see it, for code that looks
    try:
        preload(order["modules"], order["roots"], order["excluded"])
    except Tainted as taint:
        _send(control, {"tainted": taint.blamed, "reason": taint.reason})
        return
    fingerprint = Fingerprint.take(order["roots"])
    gc.freeze()
    _send(control, {"ready": list(sys.modules)})
    serve(control, reader, fingerprint)


def serve(control: socket.socket, reader: Any, fingerprint: Fingerprint) -> None:
    """Fork a server process per command and report each exit, until the supervisor is gone.

    Two server processes may run at once: the next one starts while the last
    one finishes its views.
    """
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, None)
    listening = True
    while listening or len(selector.get_map()) > 1:
        for key, _events in selector.select():
            if key.data is not None:  # a server process exited
                selector.unregister(key.fd)
                os.close(key.fd)
                _pid, status = os.waitpid(key.data, 0)
                _send(control, {"exited": os.waitstatus_to_exitcode(status), "pid": key.data})
                continue
            command = _receive(reader)
            changed = None if command is None else fingerprint.changed()
            if command is None or changed is not None:
                if changed is not None:
                    _send(control, {"stale": changed})
                selector.unregister(control)
                listening = False
                continue
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                for key in list(selector.get_map().values()):
                    if key.data is not None:
                        os.close(key.fd)  # its siblings' descriptors
                selector.close()
                reader.close()
                control.close()
                become_server_process(command)  # never returns: the child exits from there
            selector.register(os.pidfd_open(pid), selectors.EVENT_READ, pid)
            _send(control, {"started": pid})


def become_server_process(command: dict[str, Any]) -> None:
    """In the forked child: the state a new interpreter running ``manage.py`` would have.

    It ends with SystemExit, which unwinds through :func:`main` (nothing there
    catches it) so that the interpreter exits as usual: threads joined, atexit
    handlers run, files flushed.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    gc.enable()
    os.environ.clear()
    os.environ.update(command["environ"])
    sys.argv[:] = command["argv"]
    if not getattr(sys.flags, "safe_path", False):  # sys.path[0]: the folder -m ran from
        sys.path[0] = command["path0"]
    importlib.invalidate_caches()
    if command["module"]:
        runpy.run_module(command["module"], run_name="__main__", alter_sys=True)
    else:
        runpy.run_path(command["argv"][0], run_name="__main__")
    raise SystemExit(0)


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the supervisor is gone: its children go on
        control.sendall(json.dumps(message).encode() + b"\n")


def _receive(reader: Any) -> dict[str, Any] | None:
    line = reader.readline()
    return json.loads(line) if line else None


if __name__ == "__main__":
    # Started with Ctrl-C ignored (Ctrl-C is for the server process), which its
    # children get back in become_server_process().
    main(int(sys.argv[1]))
