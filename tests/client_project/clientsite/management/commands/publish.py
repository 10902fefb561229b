"""``manage.py publish <group> <json>...``: publish each message, print its position."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from django_asgi_ws import broadcast


class Command(BaseCommand):
    help = "Publish JSON messages to a broadcast group and print their positions."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("group")
        parser.add_argument("messages", nargs="+", help="each a JSON value")

    def handle(self, *args: Any, group: str, messages: list[str], **options: Any) -> None:
        for message in messages:
            self.stdout.write(str(broadcast.publish_sync(group, json.loads(message))))
