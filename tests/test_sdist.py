"""The sdist, built and unpacked: the documentation builds from it, and it holds the tests.

Whoever starts from the sdist (a distribution's packager, a mirror) builds the
documentation and runs the test suite from it, without the repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "django_asgi_ws"
# The build backend of build's isolated environments: the one pinned for the
# wheel tox builds.
PINS = ROOT / "requirements" / "pkg.txt"

# A subprocess's output, shown when it fails.
MAX_OUTPUT = 20_000
# The static files of the app: the JavaScript client and its types.
STATIC_FILES = [
    "django_asgi_ws/static/django_asgi_ws/client.js",
    "django_asgi_ws/static/django_asgi_ws/client.mjs",
    "django_asgi_ws/static/django_asgi_ws/client.d.ts",
    "django_asgi_ws/static/django_asgi_ws/client.d.mts",
]


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(argv)} exited with {result.returncode}:\n"
        f"{result.stdout[-MAX_OUTPUT:]}\n{result.stderr[-MAX_OUTPUT:]}"
    )


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist of the working tree, built as a release is, and unpacked."""
    directory = tmp_path_factory.mktemp("sdist")
    argv = [sys.executable, "-m", "build", "--sdist", "--dependency-constraints-txt", str(PINS)]
    run([*argv, "--outdir", str(directory)], ROOT, dict(os.environ))
    (archive,) = directory.glob("django_asgi_ws-*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(directory, filter="data")
    (tree,) = (path for path in directory.iterdir() if path.is_dir())
    return tree


@pytest.mark.e2e
def test_the_sdist_holds_the_tests_and_what_they_run_with(unpacked: Path) -> None:
    assert (unpacked / "tests" / "conftest.py").is_file()
    assert (unpacked / "tests" / "settings.py").is_file()
    assert (unpacked / "tox.ini").is_file()
    assert (unpacked / "requirements" / "compile.py").is_file()
    assert (unpacked / "requirements" / "pkg.txt").is_file()
    assert (unpacked / "requirements" / "docs.txt").is_file()
    assert (unpacked / "docs" / "benchmarks" / "chart.png").is_file()
    assert not (unpacked / "docs" / "_build").exists()
    assert not list(unpacked.rglob("__pycache__"))
    assert not list(unpacked.rglob("*.pyc"))
    for name in STATIC_FILES:
        assert (unpacked / name).is_file(), name


@pytest.mark.e2e
def test_the_wheel_built_from_the_sdist_installs_every_module(
    unpacked: Path, tmp_path: Path
) -> None:
    """What ``pip install`` of the sdist installs: template tags and migrations included."""
    argv = [sys.executable, "-m", "build", "--wheel", "--dependency-constraints-txt", str(PINS)]
    run([*argv, "--outdir", str(tmp_path), str(unpacked)], ROOT, dict(os.environ))
    (wheel,) = tmp_path.glob("django_asgi_ws-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        installed = set(archive.namelist())
    modules = {path.relative_to(ROOT).as_posix() for path in PACKAGE.rglob("*.py")}
    assert modules - installed == set()
    assert "django_asgi_ws/templatetags/django_asgi_ws.py" in installed
    assert "django_asgi_ws/py.typed" in installed
    assert set(STATIC_FILES) - installed == set()
    assert not any(name.startswith(("tests/", "docs/", "example/")) for name in installed)


@pytest.mark.e2e
def test_the_documentation_builds_from_the_sdist(unpacked: Path, tmp_path: Path) -> None:
    html = tmp_path / "html"
    # The flags of the docs tox environment: warnings are errors, all reported.
    argv = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "docs", str(html)]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    run(argv, unpacked, env)
    assert (html / "index.html").is_file()
    assert (html / "_images" / "chart.png").is_file()
    assert 'src="_images/chart.png"' in (html / "performance.html").read_text(encoding="utf-8")
