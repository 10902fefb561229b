"""The tables of the PostgreSQL broadcast backend's histories and presence, created by
``migrate``.

The backend reads and writes them with SQL of its own (see
``broadcast.backends.postgres_history`` and ``postgres_presence``); these
models exist so that the app's migrations create them. Other databases get
them too, unused.
"""

from __future__ import annotations

from django.db import models


class HistoryHead(models.Model):
    """A group's history: its incarnation and the sequence number of its last message."""

    #: PREFIX + group.
    name = models.CharField(max_length=200, primary_key=True)
    incarnation = models.CharField(max_length=12)
    sequence = models.BigIntegerField()

    class Meta:
        db_table = "django_asgi_ws_history_head"

    def __str__(self) -> str:
        return f"{self.name} ({self.incarnation}, {self.sequence})"


class HistoryEntry(models.Model):
    """One message of a group's history, as its frame."""

    id = models.BigAutoField(primary_key=True)
    name = models.CharField(max_length=200)
    sequence = models.BigIntegerField()
    published = models.DateTimeField()
    frame = models.BinaryField()

    class Meta:
        db_table = "django_asgi_ws_history_entry"
        constraints = (
            models.UniqueConstraint(
                fields=["name", "sequence"], name="django_asgi_ws_history_entry_sequence"
            ),
        )

    def __str__(self) -> str:
        return f"{self.name} #{self.sequence}"


class PresenceEntry(models.Model):
    """One subscription present in a group, until ``expires`` unless its process renews it."""

    entry = models.CharField(max_length=32, primary_key=True)
    #: PREFIX + group.
    name = models.CharField(max_length=200, db_index=True)
    #: The key and meta, as JSON.
    member = models.TextField()
    expires = models.DateTimeField()

    class Meta:
        db_table = "django_asgi_ws_presence"

    def __str__(self) -> str:
        return f"{self.name}: {self.member}"
