"""The settings module of runasgi's warm parent: importing it fails, and tells who tried.

:mod:`django_asgi_ws.preload` points ``DJANGO_SETTINGS_MODULE`` here, so that
reading a setting raises ``ImproperlyConfigured``, as with no settings at all,
and the module whose body tried is noted, even if it caught the error.
"""

from __future__ import annotations

import sys

from django.core.exceptions import ImproperlyConfigured

from django_asgi_ws import preload

_frame = sys._getframe(1)
while _frame is not None and _frame.f_code.co_name != "<module>":
    _frame = _frame.f_back  # type: ignore[assignment]
preload.settings_read_by.append(_frame.f_globals.get("__name__", "") if _frame else "")
del _frame

raise ImproperlyConfigured("Settings are not available in runasgi's warm parent.")
