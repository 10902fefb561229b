"""
ASGI entry point for the example project.

Serves both regular HTTP requests and the websocket routes listed in
``WEBSOCKET_URLCONF``.
"""

import os

from django_asgi_ws.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exampleproject.settings")

application = get_asgi_application()
