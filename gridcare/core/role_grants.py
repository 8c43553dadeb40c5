"""Granting role-group permissions from data migrations.

Each app's roles migration freezes a ``{role: ["app.codename", …]}`` map and calls
:func:`grant_role_permissions` (forward) and :func:`revoke_app_permissions` (backward).
Uses the historical models handed to ``RunPython``, so it works at any migration state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def grant_role_permissions(apps: Any, role_permissions: Mapping[str, Iterable[str]]) -> None:
    """Create missing permissions, then add each listed permission to its role group."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, perms in role_permissions.items():
        group, _ = group_model.objects.get_or_create(name=role)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(
                permission_model.objects.get(content_type__app_label=app_label, codename=codename)
            )


def revoke_app_permissions(apps: Any, roles: Iterable[str], app_labels: Iterable[str]) -> None:
    """Remove every permission of ``app_labels`` from the ``roles`` groups."""
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    perms = list(permission_model.objects.filter(content_type__app_label__in=list(app_labels)))
    for group in group_model.objects.filter(name__in=list(roles)):
        group.permissions.remove(*perms)
