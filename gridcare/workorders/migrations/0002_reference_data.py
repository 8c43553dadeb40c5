"""The starting category trees and root causes (workorders.reference_data)."""

from django.db import migrations


def load(apps, schema_editor):
    from gridcare.workorders import reference_data

    reference_data.load(apps)


class Migration(migrations.Migration):
    dependencies = [("workorders", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
