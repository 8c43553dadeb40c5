"""Penalty rules (domain-rules §3) and the periodic inspection cycles, as effective-dated
configuration rows an operator edits in the console (docs/inspection-cases.md)."""

from decimal import Decimal

from django.db import migrations

RULE_1996 = "1996 供电营业规则 (电力工业部令第8号) 第一百条至第一百零三条"
RULE_2024 = (
    "2024 供电营业规则 (国家发展改革委令2024年第14号), believed recast as ceilings agreed in the "
    "供用电合同 (不高于…) — UNCONFIRMED, domain-rules §3; edit when checked"
)
D1996 = "1996-10-08"
D2024 = "2024-06-01"

# key: (value, is_cap in 2024)
RULES = {
    "theft_multiple": ("3", True),
    "theft_unknown_days": ("180", False),
    "theft_hours_power": ("12", False),
    "theft_hours_lighting": ("6", False),
    "tariff_misuse_multiple": ("2", True),
    "tariff_misuse_unknown_months": ("3", False),
    "capacity_two_part_multiple": ("3", True),
    "capacity_other_per_kw": ("50", True),
    "sealed_two_part_multiple": ("2", True),
    "sealed_other_per_kw": ("30", True),
    "tampering_residential": ("500", True),
    "tampering_other": ("5000", True),
    "source_per_kw": ("500", True),
}

CYCLE_SOURCE = (
    "国家电网公司用电检查管理办法: periodic inspection of important users (特级/一级 quarterly, "
    "二级 half-yearly) and of high-voltage users (yearly) — typical cycles, verify locally"
)
CYCLES = [
    # importance, voltage level, months
    ("special", "", 3),
    ("first", "", 3),
    ("second", "", 6),
    ("temporary", "", 3),
    ("", "110kv", 6),
    ("", "35kv", 12),
    ("", "10kv", 12),
]


def seed(apps, schema_editor):
    PenaltyRule = apps.get_model("inspection", "PenaltyRule")
    InspectionCycle = apps.get_model("inspection", "InspectionCycle")
    for key, (value, cap_2024) in RULES.items():
        PenaltyRule.objects.get_or_create(
            key=key,
            effective_from=D1996,
            defaults={"value": Decimal(value), "is_cap": False, "source": RULE_1996, "created_by": "migration"},
        )
        PenaltyRule.objects.get_or_create(
            key=key,
            effective_from=D2024,
            defaults={"value": Decimal(value), "is_cap": cap_2024, "source": RULE_2024, "created_by": "migration"},
        )
    for importance, voltage, months in CYCLES:
        InspectionCycle.objects.get_or_create(
            importance=importance,
            voltage_level=voltage,
            effective_from="2020-01-01",
            defaults={"interval_months": months, "source": CYCLE_SOURCE},
        )


def unseed(apps, schema_editor):
    apps.get_model("inspection", "PenaltyRule").objects.filter(created_by="migration").delete()
    apps.get_model("inspection", "InspectionCycle").objects.filter(source=CYCLE_SOURCE).delete()


class Migration(migrations.Migration):
    dependencies = [("inspection", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
