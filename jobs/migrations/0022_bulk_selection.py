import uuid

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    """The frozen target set of a bulk action's dry run (jobs.bulk_freeze), run later by jobs.bulk_run."""

    dependencies = [
        ("jobs", "0021_pause"),
    ]

    operations = [
        migrations.CreateModel(
            name="BulkSelection",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                (
                    "action",
                    models.CharField(
                        choices=[("cancel", "Cancel"), ("retry", "Retry"), ("force_fail", "Force Fail")],
                        max_length=20,
                    ),
                ),
                ("created_by", models.CharField(max_length=150)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("expires_at", models.DateTimeField()),
                ("filter", models.JSONField(blank=True, default=dict)),
                ("ids", models.BinaryField(blank=True, default=bytes)),
                ("total", models.PositiveIntegerField(default=0)),
                ("breakdown", models.JSONField(blank=True, default=list)),
                ("effect", models.JSONField(blank=True, default=dict)),
                (
                    "state",
                    models.CharField(
                        choices=[("frozen", "Frozen"), ("started", "Started")], default="frozen", max_length=10
                    ),
                ),
                ("reason", models.TextField(blank=True, default="")),
                (
                    "operation",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="selection",
                        to="jobs.backgroundoperation",
                    ),
                ),
            ],
        ),
    ]
