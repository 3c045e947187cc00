"""Create the table of delayed messages."""

from django.db import migrations, models


class Migration(migrations.Migration):  # type: ignore[misc]
    initial = True

    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.CreateModel(
            name="DelayedMessage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("due_date", models.DateTimeField(db_index=True)),
                ("channel_name", models.CharField(max_length=200)),
                ("content", models.TextField()),
                ("attempts", models.PositiveIntegerField(default=0)),
            ],
            options={
                "verbose_name": "delayed message",
                "ordering": ["due_date", "id"],
            },
        ),
    ]
