"""The tables of the PostgreSQL broadcast backend's histories."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="HistoryHead",
            fields=[
                ("name", models.CharField(max_length=200, primary_key=True, serialize=False)),
                ("incarnation", models.CharField(max_length=12)),
                ("sequence", models.BigIntegerField()),
            ],
            options={
                "db_table": "django_asgi_ws_history_head",
            },
        ),
        migrations.CreateModel(
            name="HistoryEntry",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=200)),
                ("sequence", models.BigIntegerField()),
                ("published", models.DateTimeField()),
                ("frame", models.BinaryField()),
            ],
            options={
                "db_table": "django_asgi_ws_history_entry",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("name", "sequence"), name="django_asgi_ws_history_entry_sequence"
                    )
                ],
            },
        ),
    ]
