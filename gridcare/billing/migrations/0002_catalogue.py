"""The catalogue the project ships with (billing.seed_data): the five 河北南网 tariffs of the
issue, the power-factor adjustment tables, demo agency purchase prices and the billing
policy. Later changes are new versions and rows, added in the console or by migrations."""

from django.db import migrations


def load(apps, schema_editor):
    from gridcare.billing import seed_data

    seed_data.load(apps)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
