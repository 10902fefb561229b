"""Chat rooms and their messages."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse

MESSAGE_MAX_LENGTH = 1000


class Room(models.Model):
    name = models.CharField(max_length=50, unique=True)
    slug = models.SlugField(max_length=50, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("room", args=[self.slug])

    @property
    def group(self) -> str:
        """The broadcast group of the room, named after its slug (a validated, unique name)."""
        return f"chat.room.{self.slug}"

    @property
    def typing_group(self) -> str:
        """The group of the room's typing notices, which keeps no history."""
        return f"chat.typing.{self.slug}"


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    text = models.CharField(max_length=MESSAGE_MAX_LENGTH)
    created = models.DateTimeField(auto_now_add=True)
    # Chosen by the page for each message it sends, so that a message sent
    # again after a reconnect is stored once.
    client_id = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ("id",)
        constraints = (
            models.UniqueConstraint(
                fields=("author", "client_id"), name="chat_message_unique_client_id"
            ),
        )

    def __str__(self) -> str:
        return f"{self.author}: {self.text[:40]}"

    def as_json(self) -> dict[str, Any]:
        """The message as the room's websocket sends it."""
        return {
            "type": "message",
            "id": self.pk,
            "author": self.author.get_username(),
            "text": self.text,
            "created": self.created.isoformat(),
            "client_id": str(self.client_id) if self.client_id else None,
        }
