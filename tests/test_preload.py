"""What runasgi's warm parent imports, what it refuses, and which module it blames.

Each preload runs in an interpreter of its own, as the warm parent does, over
small modules written for the test: ``site`` stands for the installed packages,
``project`` for the project's folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from django_asgi_ws.preload import Fingerprint

ROOT = Path(__file__).resolve().parent.parent

PRELOAD = """
import json, sys
from django_asgi_ws.preload import Tainted, preload
modules, roots, excluded = json.loads(sys.argv[1])
try:
    preload(modules, roots, excluded)
except Tainted as taint:
    print(json.dumps({"blamed": taint.blamed, "reason": taint.reason}))
else:
    print(json.dumps({"imported": [name for name in modules if name in sys.modules]}))
"""


def write_modules(folder: Path, modules: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))


def run_preload(
    tmp_path: Path, modules: list[str], excluded: list[str] | None = None
) -> dict[str, Any]:
    site, project = tmp_path / "site", tmp_path / "project"
    site.mkdir(exist_ok=True)
    project.mkdir(exist_ok=True)
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join([str(project), str(site), str(ROOT)])
    argument = json.dumps([modules, [str(project)], excluded or []])
    result = subprocess.run(
        [sys.executable, "-c", PRELOAD, argument],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return report


def test_installed_modules_are_imported(tmp_path: Path) -> None:
    write_modules(tmp_path / "site", {"plain": "VALUE = 1\n"})
    assert run_preload(tmp_path, ["json", "plain"]) == {"imported": ["json", "plain"]}


def test_the_projects_modules_are_never_imported(tmp_path: Path) -> None:
    write_modules(tmp_path / "project", {"projectmodule": "VALUE = 1\n"})
    write_modules(tmp_path / "site", {"plain": "VALUE = 1\n"})
    assert run_preload(tmp_path, ["projectmodule", "plain"]) == {"imported": ["plain"]}


def test_a_module_that_starts_a_thread_is_blamed(tmp_path: Path) -> None:
    write_modules(
        tmp_path / "site",
        {
            "threads": """
                import threading, time
                threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
            """,
            "uses_threads": "import threads\n",
        },
    )
    report = run_preload(tmp_path, ["uses_threads"])
    assert report == {"blamed": "threads", "reason": "started a thread"}


def test_a_module_that_leaves_a_file_open_is_blamed(tmp_path: Path) -> None:
    write_modules(tmp_path / "site", {"opener": "HANDLE = open(__file__)\n"})
    assert run_preload(tmp_path, ["opener"]) == {"blamed": "opener", "reason": "left a file open"}


def test_a_module_that_read_a_setting_is_blamed_even_if_it_caught_the_error(
    tmp_path: Path,
) -> None:
    write_modules(
        tmp_path / "site",
        {
            "cautious": """
                from django.conf import settings
                try:
                    DEBUG = settings.DEBUG
                except Exception:
                    DEBUG = False
            """,
        },
    )
    report = run_preload(tmp_path, ["cautious"])
    assert report == {"blamed": "cautious", "reason": "read a setting"}


def test_a_module_whose_import_failed_on_a_setting_is_left_to_the_server_process(
    tmp_path: Path,
) -> None:
    write_modules(
        tmp_path / "site",
        {"needs_settings": "from django.conf import settings\nDEBUG = settings.DEBUG\n"},
    )
    assert run_preload(tmp_path, ["needs_settings", "json"]) == {"imported": ["json"]}


def test_an_excluded_module_and_every_module_importing_it_are_left_out(tmp_path: Path) -> None:
    write_modules(
        tmp_path / "site",
        {"offender": "VALUE = 1\n", "importer": "import offender\n", "innocent": "VALUE = 1\n"},
    )
    report = run_preload(tmp_path, ["importer", "offender", "innocent"], excluded=["offender"])
    assert report == {"imported": ["innocent"]}


def test_a_program_module_is_never_run(tmp_path: Path) -> None:
    write_modules(tmp_path / "site" / "tool", {"__init__": "", "__main__": "raise SystemExit(1)\n"})
    report = run_preload(tmp_path, ["tool", "tool.__main__", "json"])
    assert report == {"imported": ["tool", "json"]}


def test_the_fingerprint_notices_an_imported_file_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_modules(tmp_path, {"fingerprinted_module": "VALUE = 1\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "fingerprinted_module", raising=False)
    __import__("fingerprinted_module")
    fingerprint = Fingerprint.take(roots=[])
    assert fingerprint.changed() is None
    (tmp_path / "fingerprinted_module.py").write_text("VALUE = 22\n")
    assert fingerprint.changed() == str(tmp_path / "fingerprinted_module.py")
    sys.modules.pop("fingerprinted_module")
