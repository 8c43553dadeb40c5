"""The service standards GridCare starts with (quality.seed_data, domain-rules §1–2)."""

from django.db import migrations


def load(apps, schema_editor):
    from gridcare.quality import seed_data

    seed_data.load(apps)


class Migration(migrations.Migration):
    dependencies = [("quality", "0002_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
