from django.db import migrations, models


class Migration(migrations.Migration):
    """Each worker process records how many jobs it runs at once, to compare with maxConcurrent."""

    dependencies = [
        ("jobs", "0019_action_request"),
    ]

    operations = [
        migrations.AddField(
            model_name="workerheartbeat",
            name="concurrency",
            field=models.PositiveIntegerField(default=1),
        ),
    ]
