"""Fan-out with django-asgi-ws: subscribers in one group, a publisher publishing to it.

Two idioms, each with its own subscriber and publisher routes:

- ``ws/view/``: ``WebSocketView`` as the tutorial writes it, the group named in
  ``groups`` and ``on_group_message`` sending each message on with
  ``send_text``;
- ``ws/function/``: function views, ``broadcast.subscribe()`` before
  ``accept()`` and ``broadcast.listen()``, as ``docs/broadcast.rst`` shows;
- ``ws/relay/``: a function view relaying the group with
  ``broadcast.listen(..., forward=True)``, as ``docs/broadcast.rst`` shows for
  a view that sends the group's messages on as they are;
- ``ws/tutorial/``: ``WebSocketView`` exactly as the tutorial's chat room:
  ``groups`` and the default ``on_group_message``, which sends each message
  on as JSON (the text in quotes).

The backend is ``WEBSOCKET_BROADCAST`` (``settings_fanout``).
"""

from __future__ import annotations

from django.urls import path

from django_asgi_ws import WebSocket, broadcast
from django_asgi_ws.broadcast import Message
from django_asgi_ws.views import WebSocketView

GROUP = "room"


class Subscriber(WebSocketView):
    groups = (GROUP,)

    async def on_group_message(self, websocket: WebSocket, message: Message) -> None:
        await websocket.send_text(message.data)


class Publisher(WebSocketView):
    encoding = "text"

    async def on_receive(self, websocket: WebSocket, data: str) -> None:
        await broadcast.publish(GROUP, data)


class TutorialSubscriber(WebSocketView):
    groups = (GROUP,)


async def subscriber(websocket: WebSocket) -> None:
    async with broadcast.subscribe(GROUP) as subscription:
        await websocket.accept()
        async for event in broadcast.listen(websocket, subscription):
            if isinstance(event, broadcast.Message):
                await websocket.send_text(event.data)


async def relay(websocket: WebSocket) -> None:
    async with broadcast.subscribe(GROUP) as subscription:
        await websocket.accept()
        async for text in broadcast.listen(websocket, subscription, forward=True):
            await broadcast.publish(GROUP, text)


async def publisher(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await broadcast.publish(GROUP, text)


urlpatterns = [
    path("ws/view/fanout/", Subscriber.as_view()),
    path("ws/view/publish/", Publisher.as_view()),
    path("ws/tutorial/fanout/", TutorialSubscriber.as_view()),
    path("ws/tutorial/publish/", Publisher.as_view()),
    path("ws/function/fanout/", subscriber),
    path("ws/function/publish/", publisher),
    path("ws/relay/fanout/", relay),
    path("ws/relay/publish/", publisher),
]
