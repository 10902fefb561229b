"""The table of the PostgreSQL broadcast backend's presence entries."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("django_asgi_ws", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="PresenceEntry",
            fields=[
                ("entry", models.CharField(max_length=32, primary_key=True, serialize=False)),
                ("name", models.CharField(db_index=True, max_length=200)),
                ("member", models.TextField()),
                ("expires", models.DateTimeField()),
            ],
            options={
                "db_table": "django_asgi_ws_presence",
            },
        ),
    ]
