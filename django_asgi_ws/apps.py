from __future__ import annotations

from django.apps import AppConfig


class DjangoAsgiWsConfig(AppConfig):
    name = "django_asgi_ws"
    verbose_name = "WebSockets"

    def ready(self) -> None:
        from django_asgi_ws import checks
        from django_asgi_ws.broadcast.loading import install_lifespan_hooks

        checks.register_checks()
        install_lifespan_hooks()
