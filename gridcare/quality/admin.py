"""Django admin of service quality: read-only views of the standards and breaches (the
console page ``quality:standards`` adds standards through the audited service)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from gridcare.quality.models import ServiceStandard, SlaBreach


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ServiceStandard)
class ServiceStandardAdmin(ReadOnlyAdmin):
    list_display = (
        "code",
        "name",
        "kind",
        "stage",
        "sub_type",
        "channel",
        "grade",
        "basis",
        "amount",
        "pausable",
        "effective_from",
        "effective_to",
        "source_status",
    )
    list_filter = ("kind", "stage", "basis", "source_status")
    search_fields = ("code", "name", "source")


@admin.register(SlaBreach)
class SlaBreachAdmin(ReadOnlyAdmin):
    list_display = ("breached_at", "order", "kind", "stage", "channel", "grade", "team", "assignee", "due_at")
    list_filter = ("kind", "stage", "channel", "grade")
    date_hierarchy = "breached_at"
    list_select_related = ("order", "team", "assignee")
    raw_id_fields = ("clock", "order", "standard", "team", "assignee")
