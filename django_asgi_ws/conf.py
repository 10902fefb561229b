"""Every setting the package reads, with its default, read lazily.

Reading on each access (rather than once at import) keeps ``override_settings``
working in tests.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


class Settings:
    @property
    def WEBSOCKET_URLCONF(self) -> Any:
        """Dotted path of the module whose ``urlpatterns`` are the websocket routes."""
        return getattr(settings, "WEBSOCKET_URLCONF", None)


conf = Settings()
