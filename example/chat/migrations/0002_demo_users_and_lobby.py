"""The demo accounts alice and bob (password "chat-demo") and the room "Lobby".

The example runs on a fresh machine with nothing to set up: ``migrate`` makes
what is needed to log in and chat at once.
"""

from django.contrib.auth.hashers import make_password
from django.db import migrations

DEMO_USERS = ["alice", "bob"]
DEMO_PASSWORD = "chat-demo"


def create_demo_data(apps, schema_editor):
    User = apps.get_model("auth", "User")
    Room = apps.get_model("chat", "Room")
    for username in DEMO_USERS:
        if not User.objects.filter(username=username).exists():
            User.objects.create(username=username, password=make_password(DEMO_PASSWORD))
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby"})


def delete_demo_data(apps, schema_editor):
    apps.get_model("chat", "Room").objects.filter(slug="lobby").delete()
    apps.get_model("auth", "User").objects.filter(username__in=DEMO_USERS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("chat", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_demo_data, delete_demo_data)]
