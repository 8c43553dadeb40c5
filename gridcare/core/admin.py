"""Django admin for the shared kernel (the console is the main UI; admin is for operators)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.http import HttpRequest

from gridcare.core.audit import audit_record, snapshot
from gridcare.core.models import AuditEvent, CalendarDay, NumberSequence, PeriodicJob
from gridcare.core.workdays import calendar_overrides


class AuditedAdmin(admin.ModelAdmin):
    """Every add, change and delete made through this admin page is in the audit trail
    (who, the row before and after), like the services' own writes; ``after_write`` runs
    once the change is committed (e.g. to clear a cache)."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        model = type(obj)
        old = model._default_manager.filter(pk=obj.pk).first() if change and obj.pk is not None else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit_record(
                actor=request.user,
                obj=obj,
                action=f"admin.{'change' if old is not None else 'add'}",
                before=snapshot(old) if old is not None else None,
                after=snapshot(obj),
            )
            transaction.on_commit(self.after_write)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            audit_record(actor=request.user, obj=obj, action="admin.delete", before=snapshot(obj), after=None)
            super().delete_model(request, obj)
            transaction.on_commit(self.after_write)

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> None:
        """The list page's bulk delete: one audit row per row deleted."""
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)

    def after_write(self) -> None:
        """Hook for a subclass: runs after a committed add, change or delete."""


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
