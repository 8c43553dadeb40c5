"""Installations: one meter installed at a service point at a time.

A partial unique index on the open installation (``removed_at`` empty) per service point;
SQLite and PostgreSQL both have partial indexes. Back-dated overlaps with a closed
installation are refused by ``meter_install``: a range exclusion constraint would need
PostgreSQL only.

Data written before this change may break the rule (the service did not check it, and the
``bench billing`` / ``bench readings`` seeds put many accounts with meters on one service
point). Rather than fail on the index with a bare integrity error, the migration first
looks for such service points and stops with a message naming them: which meter is really
there is for a person to decide (拆表 the others, or give their accounts their own service
points), then migrate again. Benchmark databases are scratch data: re-create them.
"""

from django.db import migrations, models
from django.db.models import Count, Q


def check_one_open_per_service_point(apps, schema_editor):  # type: ignore[no-untyped-def]
    Installation = apps.get_model("metering", "Installation")
    clashes = (
        Installation.objects.using(schema_editor.connection.alias)
        .filter(removed_at__isnull=True)
        .values("service_point_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .order_by("service_point_id")
    )
    total = clashes.count()
    if total:
        first = [str(row["service_point_id"]) for row in clashes[:20]]
        raise RuntimeError(
            f"{total} service point(s) have more than one meter installed (open installations), "
            f"e.g. service point id {', '.join(first)}. Only one meter may be installed at a "
            "service point at a time: remove (拆表) the extra meters or move their accounts to "
            "their own service points, then run migrate again. A benchmark database seeded "
            "before this change (bench billing, bench readings) is scratch data: re-create it."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0004_account_effective_dates"),
        ("metering", "0009_reading_meter_check_per_meter"),
    ]

    operations = [
        migrations.RunPython(check_one_open_per_service_point, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="installation",
            constraint=models.UniqueConstraint(
                condition=Q(removed_at__isnull=True),
                fields=("service_point",),
                name="installation_one_open_per_service_point",
            ),
        ),
    ]
