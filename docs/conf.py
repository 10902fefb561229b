"""Sphinx configuration for the django-asgi-ws documentation."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import django

_docs = Path(__file__).resolve().parent
_init = _docs.parent / "django_asgi_ws" / "__init__.py"
_match = re.search(r'^__version__ = "([^"]+)"', _init.read_text(encoding="utf-8"), re.MULTILINE)

project = "django-asgi-ws"
author = "the django-asgi-ws authors"
copyright = "2026, the django-asgi-ws authors"
release = _match.group(1) if _match else "unknown"
version = release

# autodoc imports the package from this source tree, with Django set up.
sys.path[:0] = [str(_docs.parent), str(_docs)]
os.environ["DJANGO_SETTINGS_MODULE"] = "docs_settings"
django.setup()

extensions = ["sphinx.ext.autodoc"]

# No intersphinx: the build must work offline, and -W turns an inventory that
# cannot be fetched into an error. Django and Python names are plain text.
autodoc_member_order = "bysource"
# Types in the signatures, as Python shows them; a long signature gets one
# parameter per line.
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
python_maximum_signature_line_length = 100
autodoc_preserve_defaults = True

root_doc = "index"
exclude_patterns = ["_build", "benchmarks"]
highlight_language = "python"

html_theme = "furo"
html_title = f"django-asgi-ws {release}"
html_static_path: list[str] = []
