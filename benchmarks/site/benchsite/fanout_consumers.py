"""Channels' fan-out consumers, with its documented group API: subscribers
``group_add`` on connect, the publisher ``group_send``s each message it receives,
and each subscriber's handler sends it on."""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer

GROUP = "room"


class Subscriber(AsyncWebsocketConsumer):
    async def connect(self):
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def room_message(self, event):
        await self.send(text_data=event["text"])


class Publisher(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.group_send(GROUP, {"type": "room.message", "text": text_data})
