"""The documentation keeps up with the code."""

from __future__ import annotations

import re
from pathlib import Path

from django_asgi_ws.conf import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def settings_read_by_the_package() -> list[str]:
    return [name for name in vars(Settings) if name.isupper()]


def test_every_setting_is_documented_in_the_settings_page() -> None:
    page = (DOCS / "settings.rst").read_text()
    documented = set(re.findall(r"^``([A-Z_]+)``\n-+$", page, re.MULTILINE))
    assert set(settings_read_by_the_package()) <= documented


def test_every_check_id_is_documented() -> None:
    source = "".join(path.read_text() for path in (DOCS.parent / "django_asgi_ws").rglob("*.py"))
    ids = set(re.findall(r'id="(django_asgi_ws\.[EW]\d{3})"', source))
    page = (DOCS / "checks.rst").read_text()
    assert ids
    assert {check_id for check_id in ids if f"``{check_id}``" not in page} == set()
