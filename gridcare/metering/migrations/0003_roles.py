"""Give the role groups their metering permissions (frozen at this migration)."""

from django.db import migrations

from gridcare.core.role_grants import grant_role_permissions, revoke_app_permissions

VIEW = [
    "metering.view_meter",
    "metering.view_installation",
    "metering.view_reading",
    "metering.view_readingexception",
    "metering.view_readingimport",
    "metering.view_verificationrequest",
    "metering.view_adjustment",
    "metering.view_meterclasspolicy",
    "metering.view_veeparameters",
]
ASSETS = [
    "metering.add_meter",
    "metering.change_meter",
    "metering.add_installation",
    "metering.change_installation",
]
READINGS = [
    "metering.add_reading",
    "metering.change_reading",
    "metering.add_readingimport",
    "metering.change_readingexception",
]
VERIFY_FILE = ["metering.add_verificationrequest"]
VERIFY_TEST = ["metering.change_verificationrequest"]
CONFIG = [
    "metering.add_meterclasspolicy",
    "metering.change_meterclasspolicy",
    "metering.add_veeparameters",
    "metering.change_veeparameters",
]

ROLE_PERMISSIONS = {
    "counter_clerk": VIEW + VERIFY_FILE,
    "hotline_agent": VIEW + VERIFY_FILE,
    "billing_clerk": VIEW + READINGS,
    "metering_tech": VIEW + ASSETS + READINGS + VERIFY_FILE + VERIFY_TEST + CONFIG,
    "inspector": VIEW,
    "repair_dispatcher": ["metering.view_meter", "metering.view_installation"],
    "repair_crew": ["metering.view_meter", "metering.view_installation"],
    "service_manager": VIEW,
    "marketing_manager": VIEW + CONFIG,
    "auditor": VIEW,
}


def grant(apps, schema_editor):
    grant_role_permissions(apps, ROLE_PERMISSIONS)


def revoke(apps, schema_editor):
    revoke_app_permissions(apps, ROLE_PERMISSIONS, ["metering"])


class Migration(migrations.Migration):
    dependencies = [
        ("metering", "0002_default_policies"),
        ("core", "0002_roles_and_audit_guard"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
