"""Give the role groups their inspection permissions (frozen at this migration).

- inspector: the risk list and line loss, plans, tasks, checklists, findings and photos,
  cases (draft and submit);
- marketing_manager and service_manager: approve cases (a second person: the service
  refuses an approval by the case's author), edit penalty rules and cycles, run scoring;
- auditor: read everything;
- other staff: none (theft suspicions are not for every desk).
"""

from django.db import migrations

from gridcare.core.role_grants import grant_role_permissions, revoke_app_permissions

VIEW = [
    "inspection.view_riskscore",
    "inspection.view_scoringrun",
    "inspection.view_modelartefact",
    "inspection.view_linelossrun",
    "inspection.view_arealoss",
    "inspection.view_inspectionplan",
    "inspection.view_inspectiontask",
    "inspection.view_checklistitem",
    "inspection.view_finding",
    "inspection.view_findingphoto",
    "inspection.view_case",
    "inspection.view_penaltyrule",
    "inspection.view_inspectioncycle",
]
WORK = [
    "inspection.add_inspectionplan",
    "inspection.add_inspectiontask",
    "inspection.change_inspectiontask",
    "inspection.change_checklistitem",
    "inspection.add_finding",
    "inspection.add_findingphoto",
    "inspection.add_case",
    "inspection.change_case",
]
MANAGE = [
    "inspection.approve_case",
    "inspection.add_penaltyrule",
    "inspection.add_inspectioncycle",
    "inspection.add_scoringrun",
    "inspection.add_linelossrun",
    "inspection.add_modelartefact",
    "inspection.change_modelartefact",
]

ROLE_PERMISSIONS = {
    "inspector": VIEW + WORK + ["inspection.add_scoringrun", "inspection.add_linelossrun"],
    "marketing_manager": VIEW + WORK + MANAGE,
    "service_manager": VIEW + MANAGE,
    "auditor": VIEW,
}


def grant(apps, schema_editor):
    grant_role_permissions(apps, ROLE_PERMISSIONS)


def revoke(apps, schema_editor):
    revoke_app_permissions(apps, ROLE_PERMISSIONS, ["inspection"])


class Migration(migrations.Migration):
    dependencies = [
        ("inspection", "0002_reference_data"),
        ("core", "0002_roles_and_audit_guard"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
