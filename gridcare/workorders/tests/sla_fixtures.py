"""Put back what a transactional test's flush removed (the data migrations' rows): role groups
with their work-order permissions, categories and root causes, service standards."""

from __future__ import annotations

import importlib

import django.apps
from django.contrib.auth.models import Group, Permission


def reload_reference_data() -> None:
    from gridcare.quality import seed_data
    from gridcare.workorders import reference_data

    if not Group.objects.filter(name="hotline_agent").exists() or not seed_exists():
        reference_data.load(django.apps.apps)
        seed_data.load(django.apps.apps)
        for module in (
            "gridcare.core.migrations.0002_roles_and_audit_guard",
            "gridcare.workorders.migrations.0003_roles",
        ):
            for role, perms in importlib.import_module(module).ROLE_PERMISSIONS.items():
                group, _ = Group.objects.get_or_create(name=role)
                for perm in perms:
                    app_label, codename = perm.split(".")
                    group.permissions.add(
                        Permission.objects.get(content_type__app_label=app_label, codename=codename)
                    )


def seed_exists() -> bool:
    from gridcare.quality.models import ServiceStandard

    return ServiceStandard.objects.exists()
