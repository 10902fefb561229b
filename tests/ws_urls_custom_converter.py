"""A websocket URLconf with a converter whose answer may change between calls."""

from __future__ import annotations

from typing import ClassVar

from django.urls import path, register_converter

from tests import ws_views


class OpenRoomConverter:
    """Matches only the rooms currently in ``open_rooms``, as one looking them up would."""

    regex = "[a-z]+"
    open_rooms: ClassVar[set[str]] = set()
    calls: ClassVar[int] = 0

    def to_python(self, value: str) -> str:
        type(self).calls += 1
        if value not in self.open_rooms:
            raise ValueError(value)
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(OpenRoomConverter, "open_room")

urlpatterns = [
    path("ws/ping/", ws_views.ping, name="ping"),
    path("ws/open/<open_room:room>/", ws_views.describe, name="open-room"),
]
