"""Django admin for metering: configuration rows are added here (never edited: a change of
rule is a new row with a later effective date); business records are read-only (they change
only through the services, which audit)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from gridcare.core.admin import AuditedAdmin
from gridcare.customers.admin import ReadOnlyAdmin
from gridcare.metering.models import (
    Adjustment,
    Installation,
    Meter,
    MeterClassPolicy,
    ReadingException,
    ReadingImport,
    VeeParameters,
    VerificationPolicy,
    VerificationRequest,
)


class AddOnlyAdmin(AuditedAdmin):
    """Effective-dated configuration: add a new row (audited); existing rows stay as history."""

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(MeterClassPolicy)
class MeterClassPolicyAdmin(AddOnlyAdmin):
    list_display = (
        "accuracy_class",
        "effective_from",
        "tolerance_pct",
        "verification_interval_months",
        "replacement_years",
        "source",
    )
    list_filter = ("accuracy_class",)


@admin.register(VeeParameters)
class VeeParametersAdmin(AddOnlyAdmin):
    list_display = (
        "effective_from",
        "spike_factor",
        "spike_window_days",
        "spike_min_kwh",
        "zero_run_days",
        "tou_tolerance_kwh",
        "auto_estimate_max_days",
    )


@admin.register(VerificationPolicy)
class VerificationPolicyAdmin(AddOnlyAdmin):
    list_display = ("effective_from", "result_working_days", "source")


@admin.register(Meter)
class MeterAdmin(ReadOnlyAdmin):
    list_display = ("asset_no", "barcode", "meter_type", "accuracy_class", "multiplier", "status")
    list_filter = ("status", "meter_type", "accuracy_class")
    search_fields = ("asset_no", "barcode")


@admin.register(Installation)
class InstallationAdmin(ReadOnlyAdmin):
    list_display = ("meter", "account", "installed_at", "removed_at")
    raw_id_fields = ("meter", "account", "service_point")


@admin.register(ReadingImport)
class ReadingImportAdmin(ReadOnlyAdmin):
    list_display = ("source_name", "status", "total_rows", "inserted_rows", "rejected_rows", "created_at")
    list_filter = ("status",)


@admin.register(ReadingException)
class ReadingExceptionAdmin(ReadOnlyAdmin):
    list_display = ("rule", "meter", "account", "day_from", "day_to", "status")
    list_filter = ("rule", "status")
    raw_id_fields = ("meter", "account", "reading_import", "resolved_by")


@admin.register(VerificationRequest)
class VerificationRequestAdmin(ReadOnlyAdmin):
    list_display = ("number", "account", "meter", "requested_at", "due_at", "status", "within_tolerance")
    list_filter = ("status",)
    raw_id_fields = ("account", "meter", "created_by")


@admin.register(Adjustment)
class AdjustmentAdmin(ReadOnlyAdmin):
    list_display = ("account", "meter", "direction", "error_pct", "period_start", "period_end", "status")
    list_filter = ("direction", "status")
    raw_id_fields = ("account", "meter", "verification")
