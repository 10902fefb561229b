"""The test project on the real PostgreSQL, for servers started by the e2e tests.

``DJANGO_ASGI_WS_PG_NAME`` names the database (the e2e tests create one per
test); PGHOST, PGPORT, PGUSER and PGPASSWORD override the server, as for the
``pg`` alias of tests.settings. ``DJANGO_ASGI_WS_PG_CONN_MAX_AGE`` sets
CONN_MAX_AGE (0 by default: a connection lasts one message).
"""

from __future__ import annotations

import os
from typing import Any

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES as UNIT_DATABASES

POSTGRES: dict[str, Any] = {
    **UNIT_DATABASES["pg"],
    "NAME": os.environ.get("DJANGO_ASGI_WS_PG_NAME", "django_asgi_ws"),
    "CONN_MAX_AGE": int(os.environ.get("DJANGO_ASGI_WS_PG_CONN_MAX_AGE", "0")),
    "TEST": {},
}
DATABASES = {"default": POSTGRES}
WEBSOCKET_URLCONF = "tests.pg_ws_urls"
