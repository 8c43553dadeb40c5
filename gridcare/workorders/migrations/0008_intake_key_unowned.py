"""Intake keys: a portal report's key is stored under no user (为举报人保密).

A report a customer files on the portal is accepted under the system actor, so that nothing
on it names the reporter; its intake key was stored under the customer's user and so linked
the reporter to the report. Such a key is now stored with no ``user`` and, as ``key``, an
HMAC of the user and their key (``services/orders.py`` ``_stored_key``): the customer's
resend still finds it, nothing else links them. The rows already stored are rewritten the
same way.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.utils.crypto import salted_hmac

# ``INTAKE_KEY_SALT`` of services/orders.py when this migration was written.
SALT = "gridcare.workorders.intake_key"


def unlink(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Keys of reports accepted under a system actor (no ``created_by``) that name a user."""
    IntakeKey = apps.get_model("workorders", "IntakeKey")
    rows = IntakeKey.objects.filter(
        user__isnull=False, order__kind="report", order__created_by__isnull=True
    ).only("id", "user_id", "key")
    for row in rows:
        row.key = salted_hmac(SALT, f"{row.user_id}:{row.key}", algorithm="sha256").hexdigest()
        row.user_id = None
        row.save(update_fields=["user", "key"])


def drop_unowned(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Back: a key stored under no user cannot be given back its user; it is dropped."""
    apps.get_model("workorders", "IntakeKey").objects.filter(user__isnull=True).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('workorders', '0007_fewer_order_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='intakekey',
            name='user',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='user'),
        ),
        migrations.RunPython(unlink, drop_unowned),
        migrations.AddConstraint(
            model_name='intakekey',
            constraint=models.UniqueConstraint(condition=models.Q(('user__isnull', True)), fields=('key',), name='intake_key_unowned_key_unique'),
        ),
    ]
