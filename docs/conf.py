"""Sphinx configuration for the django-asgi-ws documentation."""

from __future__ import annotations

import re
from pathlib import Path

_init = Path(__file__).resolve().parent.parent / "django_asgi_ws" / "__init__.py"
_match = re.search(r'^__version__ = "([^"]+)"', _init.read_text(encoding="utf-8"), re.MULTILINE)

project = "django-asgi-ws"
author = "the django-asgi-ws authors"
copyright = "2026, the django-asgi-ws authors"
release = _match.group(1) if _match else "unknown"
version = release

extensions: list[str] = []

root_doc = "index"
exclude_patterns = ["_build", "benchmarks"]
highlight_language = "python"

html_theme = "furo"
html_title = f"django-asgi-ws {release}"
html_static_path: list[str] = []
