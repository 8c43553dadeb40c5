"""Django admin for the shared kernel (the console is the main UI; admin is for operators)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from gridcare.core.models import AuditEvent, CalendarDay, NumberSequence, PeriodicJob


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
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ("date", "is_workday", "name", "source")
    list_filter = ("is_workday",)
    search_fields = ("name", "source")


@admin.register(NumberSequence)
class NumberSequenceAdmin(admin.ModelAdmin):
    list_display = ("name", "next_value")
    readonly_fields = ("name", "next_value")


@admin.register(PeriodicJob)
class PeriodicJobAdmin(admin.ModelAdmin):
    """定时任务: change the interval or disable a job; the worker creates the default rows."""

    list_display = ("name", "task_path", "interval_seconds", "enabled", "next_run_at", "last_enqueued_at")
    list_filter = ("enabled",)
    list_editable = ("interval_seconds", "enabled")
    readonly_fields = ("last_enqueued_at",)
