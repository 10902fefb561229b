"""A view that blocks the event loop is reported by every production entry point,
named, with its line (``runasgi``: in test_runasgi_e2e).

The test project keeps the default threshold (0.5 s) and logs ``django_asgi_ws``
at INFO to the console, which the servers' output captures.
"""

from __future__ import annotations

import re

import pytest
from websockets.sync.client import connect

from tests.live import ALL_SERVERS, ENTRY_POINTS, live_server

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("server_name", [name for name in ALL_SERVERS if name in ENTRY_POINTS])
def test_a_view_blocking_the_loop_is_reported_with_its_name_and_line(server_name: str) -> None:
    with live_server(server_name) as live:
        with connect(live.url + "/ws/block-the-loop/") as ws:
            ws.send("1.5")
            assert ws.recv(timeout=10) == "slept"
        log = live.wait_for_output(" in total by websocket view")
    warning = re.search(
        r"Event loop blocked for (?P<so_far>[\d.]+) s so far by websocket view "
        r"tests\.blocking_views\.block_the_loop \(/ws/block-the-loop/\): .*\n"
        r"Stack \(most recent call last\):\n(?P<stack>(?:  .*\n)+)",
        log,
    )
    assert warning, log
    assert 0.5 <= float(warning["so_far"]) < 1.5
    assert warning["stack"].endswith(
        ", in block_the_loop\n    time.sleep(float(text))  # the line the report shows\n"
    )
    total = re.search(r"Event loop blocked for ([\d.]+) s in total by websocket view", log)
    assert total and 1.3 <= float(total[1]) < 2.0, log
    # One report and its end (daphne's command line logs each twice: its own
    # handler and the project's).
    assert len(set(re.findall(r"Event loop blocked for [\d.]+ s (?:so far|in total)", log))) == 2
    assert "Traceback" not in live.log()  # nor at the stop
