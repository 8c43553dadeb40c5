"""Give the role groups their work-order permissions (frozen at this migration).

What each permission means in the console (docs/roles.md):
- view_workorder: see orders, timelines and clocks (every staff role);
- add_workorder: accept (受理) new orders (hotline agent, counter clerk, service manager);
- change_workorder: take transitions and write notes; which transitions a role may take is
  the workflow data (workflows/95598.toml);
- view_reporteridentity: see a report's reporter (为举报人保密) — the service manager only;
- add_improvementaction: record the improvement of a closed-loop complaint;
- add/change article: maintain the knowledge base;
- quality.view_slabreach: the supervisor board and breach records;
- quality.add/change servicestandard: maintain the service standards.
"""

from django.db import migrations

from gridcare.core.role_grants import grant_role_permissions, revoke_app_permissions

VIEW = [
    "workorders.view_workorder",
    "workorders.view_workorderevent",
    "workorders.view_category",
    "workorders.view_team",
    "workorders.view_slaclock",
    "workorders.view_attachment",
    "workorders.view_followupvisit",
    "workorders.view_improvementaction",
    "workorders.view_rootcause",
    "workorders.view_article",
    "workorders.view_articlecategory",
    "quality.view_servicestandard",
]
WORK = ["workorders.change_workorder", "workorders.add_attachment"]
INTAKE = ["workorders.add_workorder", "workorders.add_followupvisit"] + WORK
MANAGE = [
    "workorders.view_reporteridentity",
    "workorders.add_improvementaction",
    "workorders.add_article",
    "workorders.change_article",
    "workorders.change_team",
    "workorders.change_category",
    "quality.view_slabreach",
    "quality.add_servicestandard",
    "quality.change_servicestandard",
]

ROLE_PERMISSIONS = {
    "counter_clerk": VIEW + INTAKE,
    "hotline_agent": VIEW + INTAKE,
    "billing_clerk": VIEW + WORK,
    "metering_tech": VIEW + WORK,
    "inspector": VIEW + WORK,
    "repair_dispatcher": VIEW + WORK,
    "repair_crew": VIEW + WORK,
    "service_manager": VIEW + INTAKE + MANAGE,
    "marketing_manager": VIEW + ["workorders.add_article", "workorders.change_article"],
    "auditor": VIEW + ["quality.view_slabreach"],
}


def grant(apps, schema_editor):
    grant_role_permissions(apps, ROLE_PERMISSIONS)


def revoke(apps, schema_editor):
    revoke_app_permissions(apps, ROLE_PERMISSIONS, ["workorders", "quality"])


class Migration(migrations.Migration):
    dependencies = [
        ("workorders", "0002_reference_data"),
        ("quality", "0003_service_standards"),
        ("core", "0002_roles_and_audit_guard"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
