"""Create the role groups of architecture.md with their permissions, and make the audit
trail append-only in the database (UPDATE is refused by a trigger; on PostgreSQL DELETE too).

SQLite refuses UPDATE only: its test-database flush deletes row by row (PostgreSQL's
TRUNCATE is not a row operation), and the embedded database is the demo, not production."""

from django.db import migrations

# Frozen at this migration: later apps add their permissions in their own migrations.
VIEW_ARCHIVE = [
    "customers.view_customer",
    "customers.view_account",
    "customers.view_servicepoint",
    "customers.view_contract",
]
VIEW_TOPOLOGY = [
    "customers.view_substation",
    "customers.view_feeder",
    "customers.view_transformer",
]
EDIT_ARCHIVE = [
    "customers.add_customer",
    "customers.change_customer",
    "customers.add_account",
    "customers.change_account",
    "customers.add_servicepoint",
    "customers.change_servicepoint",
    "customers.add_contract",
    "customers.change_contract",
]
EDIT_TOPOLOGY = [
    "customers.add_substation",
    "customers.change_substation",
    "customers.add_feeder",
    "customers.change_feeder",
    "customers.add_transformer",
    "customers.change_transformer",
]
VIEW_AUDIT = ["core.view_auditevent"]
CALENDAR = ["core.view_calendarday", "core.add_calendarday", "core.change_calendarday"]

ROLE_PERMISSIONS = {
    "counter_clerk": VIEW_ARCHIVE + VIEW_TOPOLOGY + EDIT_ARCHIVE,
    "hotline_agent": VIEW_ARCHIVE + VIEW_TOPOLOGY,
    "billing_clerk": VIEW_ARCHIVE + VIEW_TOPOLOGY + ["customers.change_account"],
    "metering_tech": VIEW_ARCHIVE + VIEW_TOPOLOGY + ["customers.change_servicepoint"],
    "inspector": VIEW_ARCHIVE + VIEW_TOPOLOGY,
    "repair_dispatcher": VIEW_ARCHIVE + VIEW_TOPOLOGY,
    "repair_crew": VIEW_ARCHIVE + VIEW_TOPOLOGY,
    "service_manager": VIEW_ARCHIVE + VIEW_TOPOLOGY + VIEW_AUDIT + CALENDAR,
    "marketing_manager": VIEW_ARCHIVE + VIEW_TOPOLOGY + EDIT_TOPOLOGY
    + ["customers.change_account", "customers.change_contract", "customers.add_contract"]
    + CALENDAR,
    "auditor": VIEW_ARCHIVE + VIEW_TOPOLOGY + VIEW_AUDIT + ["core.view_calendarday"],
    "customer": [],
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.add(*wanted)


def drop_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=ROLE_PERMISSIONS).delete()


def add_audit_guard(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            """
            CREATE OR REPLACE FUNCTION core_auditevent_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'core_auditevent is append-only';
            END;
            $$ LANGUAGE plpgsql;
            """
        )
        schema_editor.execute(
            "CREATE TRIGGER core_auditevent_no_update BEFORE UPDATE OR DELETE ON core_auditevent "
            "FOR EACH ROW EXECUTE FUNCTION core_auditevent_append_only();"
        )
    elif vendor == "sqlite":
        schema_editor.execute(
            "CREATE TRIGGER core_auditevent_no_update BEFORE UPDATE ON core_auditevent "
            "BEGIN SELECT RAISE(ABORT, 'core_auditevent is append-only'); END;"
        )


def drop_audit_guard(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute("DROP TRIGGER IF EXISTS core_auditevent_no_update ON core_auditevent;")
        schema_editor.execute("DROP FUNCTION IF EXISTS core_auditevent_append_only();")
    elif vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS core_auditevent_no_update;")


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("customers", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_roles, drop_roles),
        migrations.RunPython(add_audit_guard, drop_audit_guard),
    ]
