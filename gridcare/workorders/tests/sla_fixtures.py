"""Put back what a transactional test's flush removed (the data migrations' rows): role groups
with their work-order permissions, categories and root causes, service standards."""

from __future__ import annotations

import django.apps
from django.contrib.auth.models import Group

from gridcare.core.tests.transactional import grant_roles


def reload_reference_data() -> None:
    from gridcare.quality import seed_data
    from gridcare.workorders import reference_data

    if not Group.objects.filter(name="hotline_agent").exists() or not seed_exists():
        reference_data.load(django.apps.apps)
        seed_data.load(django.apps.apps)
        grant_roles(
            "gridcare.core.migrations.0002_roles_and_audit_guard",
            "gridcare.workorders.migrations.0003_roles",
        )


def seed_exists() -> bool:
    from gridcare.quality.models import ServiceStandard

    return ServiceStandard.objects.exists()
