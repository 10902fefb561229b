"""The garbage collector's pauses in a benchmark server, for ``fanout_sockets.py``.

Imported by the servers' ASGI modules. With ``FANOUT_GC_FILE`` set, it times
every collection, and each SIGUSR1 writes to that file (as JSON) the seconds
spent collecting since the start, the collections per generation, and the
longest pause since the previous write; the benchmark signals before and after
each measurement and takes the difference. Without the variable it does nothing.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import time
from typing import Any


def install() -> None:
    path = os.environ.get("FANOUT_GC_FILE")
    if not path:
        return
    totals: dict[str, Any] = {"seconds": 0.0, "longest": 0.0, "collections": [0, 0, 0], "writes": 0}
    started = 0.0

    def on_collection(phase: str, info: dict[str, Any]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
            return
        took = time.perf_counter() - started
        totals["seconds"] += took
        totals["longest"] = max(totals["longest"], took)
        totals["collections"][info["generation"]] += 1

    def write(signum: int, frame: Any) -> None:
        totals["writes"] += 1
        with open(f"{path}.tmp", "w") as file:
            json.dump(totals, file)
        os.replace(f"{path}.tmp", path)
        totals["longest"] = 0.0

    gc.callbacks.append(on_collection)
    signal.signal(signal.SIGUSR1, write)


install()
