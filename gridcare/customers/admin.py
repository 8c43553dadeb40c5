"""Django admin for the customer archive: a read-only window for operators.

Every change to a customer, account, contract or the topology goes through
:mod:`gridcare.customers.services` (validation, optimistic locking, audit trail), i.e. the
staff console or the API. The admin therefore shows the archive but never writes it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from gridcare.customers.models import (
    Account,
    Contract,
    Customer,
    Feeder,
    ServicePoint,
    Substation,
    Transformer,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Lists and detail pages only: no add, change or delete (use the console)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Substation)
class SubstationAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "voltage_kv")
    search_fields = ("code", "name")


@admin.register(Feeder)
class FeederAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "substation", "voltage_kv")
    list_select_related = ("substation",)
    list_filter = ("substation",)
    search_fields = ("code", "name")


@admin.register(Transformer)
class TransformerAdmin(ReadOnlyAdmin):
    list_display = ("code", "name", "feeder", "capacity_kva", "area_type", "is_dedicated")
    list_select_related = ("feeder",)
    list_filter = ("area_type", "is_dedicated")
    search_fields = ("code", "name", "location")


@admin.register(ServicePoint)
class ServicePointAdmin(ReadOnlyAdmin):
    list_display = ("address", "transformer")
    list_select_related = ("transformer",)
    search_fields = ("address",)


class AccountInline(admin.TabularInline):
    model = Account
    fields = ("number", "customer_class", "voltage_level", "status", "importance", "is_prepaid")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = ("name", "kind", "id_tail", "mobile", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "mobile", "id_tail", "accounts__number")
    show_full_result_count = False
    inlines = (AccountInline,)


class ContractInline(admin.TabularInline):
    model = Contract
    fields = ("number", "kind", "capacity_kva", "start_date", "end_date", "status")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = (
        "number",
        "customer",
        "customer_class",
        "voltage_level",
        "status",
        "importance",
        "is_prepaid",
        "opened_on",
    )
    list_select_related = ("customer",)
    list_filter = ("status", "customer_class", "voltage_level", "importance", "is_prepaid")
    search_fields = ("number", "customer__name")
    show_full_result_count = False
    inlines = (ContractInline,)


@admin.register(Contract)
class ContractAdmin(ReadOnlyAdmin):
    list_display = ("number", "account", "kind", "capacity_kva", "start_date", "end_date", "status")
    list_select_related = ("account",)
    list_filter = ("kind", "status")
    search_fields = ("number", "account__number")
