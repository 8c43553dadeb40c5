"""Django admin for the shared kernel (the console is the main UI; admin is for operators)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, Permission
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse

from gridcare.core.audit import audit_record, snapshot
from gridcare.core.auth import clear_permission_cache
from gridcare.core.models import AuditEvent, CalendarDay, NumberSequence, PeriodicJob
from gridcare.core.workdays import calendar_overrides


def _related_labels(manager: Any) -> list[str]:
    """A many-to-many field's rows as the audit trail writes them: permissions as
    ``app.codename`` (as the role tables in docs/roles.md name them), anything else by name."""
    if manager.model is Permission:
        return sorted(
            f"{app}.{code}" for app, code in manager.values_list("content_type__app_label", "codename")
        )
    return sorted(str(row) for row in manager.all())


class AuditedAdmin(admin.ModelAdmin):
    """Every add, change and delete made through this admin page is in the audit trail
    (who, the row before and after, its many-to-many fields included), like the services'
    own writes; ``after_write`` runs once the change is committed (e.g. to clear a cache).

    The row is read before ``save_model`` and written to the trail after ``save_related``
    (Django saves the many-to-many fields there; it calls both, in one transaction, on the
    change form and on the list page's editable columns). Fields in ``audit_exclude`` (a
    password hash) are left out.
    """

    audit_exclude: tuple[str, ...] = ()

    def audit_state(self, obj: Any) -> dict[str, Any]:
        """What the trail records of ``obj``: its concrete fields and many-to-many fields."""
        fields = [f.attname for f in obj._meta.concrete_fields if f.name not in self.audit_exclude]
        state = snapshot(obj, fields)
        for field in obj._meta.many_to_many:
            if field.name not in self.audit_exclude:
                state[field.name] = _related_labels(getattr(obj, field.name))
        return state

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        model = type(obj)
        old = model._default_manager.filter(pk=obj.pk).first() if change and obj.pk is not None else None
        form.gridcare_audit_before = self.audit_state(old) if old is not None else None
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_related(request, form, formsets, change)
            before = getattr(form, "gridcare_audit_before", None)
            audit_record(
                actor=request.user,
                obj=form.instance,
                action=f"admin.{'change' if before is not None else 'add'}",
                before=before,
                after=self.audit_state(form.instance),
            )
            transaction.on_commit(self.after_write)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            audit_record(
                actor=request.user, obj=obj, action="admin.delete", before=self.audit_state(obj), after=None
            )
            super().delete_model(request, obj)
            transaction.on_commit(self.after_write)

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> None:
        """The list page's bulk delete: one audit row per row deleted."""
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)

    def after_write(self) -> None:
        """Hook for a subclass: runs after a committed add, change or delete."""


# --- users and role groups: Django's admin pages, audited ----------------------------------------

admin.site.unregister(Group)
admin.site.unregister(get_user_model())


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdmin, GroupAdmin):
    """Role groups (角色): a permission granted or taken away is an audited change (the
    group's ``permissions`` before and after); this process sees it at once, the others
    within the reference-cache time."""

    def after_write(self) -> None:
        clear_permission_cache()


@admin.register(get_user_model())
class AuditedUserAdmin(AuditedAdmin, UserAdmin):
    """Users: Django's user admin (password hashing, the password form), audited: a new
    user, a change of role groups, direct permissions or staff/superuser status; a password
    set here is recorded as set, never its hash."""

    audit_exclude = ("password",)

    def after_write(self) -> None:
        clear_permission_cache()

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        users = get_user_model()._default_manager.filter(pk=unquote(id))
        with transaction.atomic():
            old_hash = users.values_list("password", flat=True).first()
            response = super().user_change_password(request, id, form_url)
            user = users.first()
            if user is not None and old_hash is not None and user.password != old_hash:
                audit_record(
                    actor=request.user,
                    obj=user,
                    action="admin.password_change",
                    after={"usable_password": user.has_usable_password()},
                )
        return response


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is append-only."""

    list_display = ("at", "actor_label", "action", "object_type", "object_id", "object_repr")
    list_filter = ("action", "object_type")
    search_fields = ("actor_label", "object_id", "object_repr", "action")
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CalendarDay)
class CalendarDayAdmin(AuditedAdmin):
    """Working-calendar overrides (also ``gridcare calendar set``): audited; every process
    sees a change within the reference-cache time, this one at once."""

    list_display = ("date", "is_workday", "name", "source")
    list_filter = ("is_workday",)
    search_fields = ("name", "source")

    def after_write(self) -> None:
        calendar_overrides.clear()


@admin.register(NumberSequence)
class NumberSequenceAdmin(admin.ModelAdmin):
    list_display = ("name", "next_value")
    readonly_fields = ("name", "next_value")


@admin.register(PeriodicJob)
class PeriodicJobAdmin(AuditedAdmin):
    """定时任务: change the interval or disable a job; the worker creates the default rows."""

    list_display = ("name", "task_path", "interval_seconds", "enabled", "next_run_at", "last_enqueued_at")
    list_filter = ("enabled",)
    list_editable = ("interval_seconds", "enabled")
    readonly_fields = ("last_enqueued_at",)
