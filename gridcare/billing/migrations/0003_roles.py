"""Give the role groups their billing permissions (frozen at this migration).

What each permission means in the console (docs/roles.md):
- add/change billingrun: start, resume and issue billing runs (billing clerk);
- change billreview / billinghold: decide review flags, release held accounts;
- add billadjustment: request a 退补 correction; change billadjustment: approve it (a second person);
- add payment: post a counter payment; change payment: reverse one (with a reason);
- add latefeewaiver: request a late-fee waiver; change latefeewaiver: approve it;
- add/change withholdingbatch: bank withholding files out and results in;
- change remoteorder: decide prepaid remote orders (an important customer's disconnect);
- add tariffversion / agencypurchaseprice: maintain the catalogue.
"""

from django.db import migrations

from gridcare.core.role_grants import grant_role_permissions, revoke_app_permissions

VIEW = [
    f"billing.view_{model}"
    for model in (
        "tariff",
        "tariffversion",
        "agencypurchaseprice",
        "powerfactoradjustment",
        "billingpolicy",
        "billingrun",
        "billinghold",
        "bill",
        "billreview",
        "billadjustment",
        "payment",
        "paymentallocation",
        "accountbalance",
        "latefeewaiver",
        "withholdingbatch",
        "prepaidcharge",
        "prepaidnotice",
        "remoteorder",
    )
]
RUN = [
    "billing.add_billingrun",
    "billing.change_billingrun",
    "billing.change_billreview",
    "billing.change_billinghold",
    "billing.add_billadjustment",
    "billing.add_withholdingbatch",
    "billing.change_withholdingbatch",
]
COLLECT = ["billing.add_payment", "billing.add_latefeewaiver"]
APPROVE = ["billing.change_billadjustment", "billing.change_latefeewaiver", "billing.change_payment"]
CATALOGUE = [
    "billing.add_tariff",
    "billing.add_tariffversion",
    "billing.add_agencypurchaseprice",
    "billing.add_billingpolicy",
]
PREPAID = ["billing.change_remoteorder"]

ROLE_PERMISSIONS = {
    "counter_clerk": VIEW + COLLECT,
    "hotline_agent": VIEW,
    "billing_clerk": VIEW + RUN + COLLECT + PREPAID,
    "metering_tech": ["billing.view_bill", "billing.view_billadjustment"],
    "inspector": ["billing.view_bill", "billing.view_tariff", "billing.view_tariffversion"],
    "service_manager": VIEW + APPROVE + PREPAID,
    "marketing_manager": VIEW + APPROVE + CATALOGUE + PREPAID,
    "auditor": VIEW,
}


def grant(apps, schema_editor):
    grant_role_permissions(apps, ROLE_PERMISSIONS)


def revoke(apps, schema_editor):
    revoke_app_permissions(apps, ROLE_PERMISSIONS, ["billing"])


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_catalogue"),
        ("core", "0002_roles_and_audit_guard"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
