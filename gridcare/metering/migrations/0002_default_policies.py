"""Seed the metering configuration: per-class allowed error and verification/replacement
periods, and the VEE thresholds. Operators change them by adding rows with a later
effective date (never by editing code)."""

import datetime as dt
from decimal import Decimal

from django.db import migrations

SINCE = dt.date(2020, 1, 1)
POLICY_SOURCE = (
    "Allowed error = accuracy class (GB/T 17215, JJG 596-2012). Verification/replacement "
    "periods: JJG 596-2012 and DL/T 448-2016 as commonly applied [UNCONFIRMED: check the "
    "provincial 计量 rules before relying on the periods]."
)
POLICIES = [
    # class, tolerance %, verification interval (months), replacement (years)
    ("0.2S", Decimal("0.20"), 12, 10),
    ("0.5S", Decimal("0.50"), 12, 10),
    ("1", Decimal("1.00"), 96, 8),
    ("2", Decimal("2.00"), 96, 8),
]


def forwards(apps, schema_editor):
    MeterClassPolicy = apps.get_model("metering", "MeterClassPolicy")
    VeeParameters = apps.get_model("metering", "VeeParameters")
    for cls, tol, months, years in POLICIES:
        MeterClassPolicy.objects.get_or_create(
            accuracy_class=cls,
            effective_from=SINCE,
            defaults={
                "tolerance_pct": tol,
                "verification_interval_months": months,
                "replacement_years": years,
                "source": POLICY_SOURCE,
            },
        )
    VeeParameters.objects.get_or_create(
        effective_from=SINCE,
        defaults={
            "spike_factor": Decimal("5.00"),
            "spike_window_days": 30,
            "spike_min_kwh": Decimal("10.000"),
            "zero_run_days": 7,
            "tou_tolerance_kwh": Decimal("0.100"),
            "auto_estimate_max_days": 3,
            "source": "GridCare defaults; tune per company.",
        },
    )


def backwards(apps, schema_editor):
    apps.get_model("metering", "MeterClassPolicy").objects.filter(effective_from=SINCE).delete()
    apps.get_model("metering", "VeeParameters").objects.filter(effective_from=SINCE).delete()


class Migration(migrations.Migration):
    dependencies = [("metering", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
