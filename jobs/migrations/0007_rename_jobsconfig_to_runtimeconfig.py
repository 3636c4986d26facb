"""The settings-overrides model is RuntimeConfig: JobsConfig was also the app's AppConfig."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0006_queued_order_index"),
    ]

    operations = [
        migrations.RenameModel(old_name="JobsConfig", new_name="RuntimeConfig"),
    ]
