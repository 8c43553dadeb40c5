"""Staff console of the customer archive (客户档案) and the topology browser.

Views stay thin: parse the request, call one selector or service, render. Every view
checks the role with :func:`gridcare.core.permissions.staff_required`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from gridcare.billing.selectors.bills import bills_panel
from gridcare.core.engine.ids import mask_id_number
from gridcare.core.errors import Conflict, NotFound, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.core.pagination import paginate
from gridcare.core.permissions import staff_required
from gridcare.customers import selectors, services
from gridcare.customers.choices import CustomerKind
from gridcare.customers.forms import (
    AccountEditForm,
    CustomerCreateForm,
    CustomerEditForm,
    add_service_error,
)
from gridcare.customers.models import Feeder, Substation, Transformer
from gridcare.inspection.selectors.panel import customer_inspection_panel
from gridcare.metering.selectors.assets import metering_for_accounts
from gridcare.workorders.selectors.orders import customer_work_orders_panel

RECENT_CHANGES = 20


def _search_field_choices() -> list[tuple[str, str]]:
    labels = {
        "all": _("All fields"),
        "number": _("Account number (户号)"),
        "name": _("Name"),
        "mobile": _("Mobile"),
        "id_tail": _("ID number tail"),
        "address": _("Address"),
    }
    return [(key, labels[key]) for key in selectors.SEARCH_FIELDS]


@staff_required("customers.view_customer")
def customer_search_view(request: HttpRequest) -> HttpResponse:
    """客户查询: search by 户号, name, mobile, ID tail or address; empty query lists the newest."""
    q = request.GET.get("q", "").strip()
    field = request.GET.get("field", "all")
    if field not in selectors.SEARCH_FIELDS:
        field = "all"
    customers = selectors.customer_search(user=request.user, q=q, field=field)
    page = paginate(request, selectors.customer_list_page(customers))
    return render(
        request,
        "customers/search.html",
        {
            "q": q,
            "field": field,
            "field_choices": _search_field_choices(),
            "page": page,
        },
    )


def _masked_values(values: dict[str, Any] | None, *, show_identity: bool) -> list[tuple[str, Any]]:
    """Audit before/after as (field, value) pairs, the ID card number masked as on the page."""
    if not values:
        return []
    rows = []
    for key, value in values.items():
        if key == "id_number" and value and not show_identity:
            value = mask_id_number(str(value))
        rows.append((key, value))
    return rows


def _audit_row(event: AuditEvent, *, show_identity: bool) -> dict[str, Any]:
    return {
        "at": event.at,
        "actor_label": event.actor_label,
        "action": event.action,
        "before": _masked_values(event.before, show_identity=show_identity),
        "after": _masked_values(event.after, show_identity=show_identity),
    }


@staff_required("customers.view_customer")
def customer_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """客户360视图: identity, accounts with topology path and contracts (paginated: an
    organisation may hold hundreds), recent changes. The bills and inspection panels cover
    every account of the customer, not only the page's; the meters card follows the page."""
    try:
        customer = selectors.customer_get(user=request.user, customer_id=pk, with_accounts=False)
    except NotFound as exc:
        raise Http404 from exc
    user = request.user
    accounts = selectors.customer_accounts(user=user, customer=customer)
    page = paginate(request, accounts)
    page_accounts = list(page.object_list)
    all_account_ids = list(accounts.values_list("pk", flat=True))
    can_change_customer = user.has_perm("customers.change_customer")
    recent_changes = None
    panel = bills_panel(user=user, account_ids=all_account_ids)
    if user.has_perm("core.view_auditevent"):
        events = AuditEvent.objects.filter(object_type="customers.customer", object_id=str(pk)).order_by(
            "-at", "-id"
        )[:RECENT_CHANGES]
        recent_changes = [_audit_row(event, show_identity=can_change_customer) for event in events]
    return render(
        request,
        "customers/detail.html",
        {
            "customer": customer,
            "page": page,
            "accounts": page_accounts,
            "can_change_customer": can_change_customer,
            "can_change_account": user.has_perm("customers.change_account"),
            "recent_changes": recent_changes,
            "metering": metering_for_accounts(user=user, account_ids=[a.pk for a in page_accounts]),
            "bills_panel": panel,
            "workorders_panel": customer_work_orders_panel(user=user, customer_id=customer.pk),
            "inspection_panel": customer_inspection_panel(user=user, account_ids=all_account_ids),
            "bills_chart": {**panel["chart"], "kwh_name": _("kWh"), "amount_name": _("Amount (yuan)")}
            if panel
            else None,
        },
    )


@staff_required("customers.view_customer", "customers.add_customer")
def customer_create_view(request: HttpRequest) -> HttpResponse:
    """建档 (and optionally 立户): customer, service point and account in one transaction."""
    form = CustomerCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        field_map: dict[str, str] = {}
        try:
            with transaction.atomic():
                customer = services.customer_create(actor=request.user, **form.customer_data())
                if form.opens_account:
                    field_map = {"address": "account_address"}
                    data = form.cleaned_data
                    point = services.service_point_create(
                        actor=request.user,
                        address=data["account_address"],
                        transformer=data["transformer"],
                    )
                    account = services.account_open(
                        actor=request.user,
                        customer=customer,
                        service_point=point,
                        customer_class=data["customer_class"],
                        voltage_level=data["voltage_level"],
                        importance=data["importance"] or "",
                        is_prepaid=data["is_prepaid"],
                    )
        except ValidationFailed as exc:
            add_service_error(form, exc, field_map)
        else:
            if form.opens_account:
                messages.success(
                    request,
                    _("Customer %(name)s registered with account %(number)s.")
                    % {"name": customer.name, "number": account.number},
                )
            else:
                messages.success(request, _("Customer %(name)s registered.") % {"name": customer.name})
            return redirect("customers:detail", pk=customer.pk)
    return render(request, "customers/customer_create.html", {"form": form})


@staff_required("customers.view_customer", "customers.change_customer")
def customer_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    """修改客户档案 with optimistic locking (the hidden ``version``)."""
    try:
        customer = selectors.customer_get(user=request.user, customer_id=pk, with_accounts=False)
    except NotFound as exc:
        raise Http404 from exc
    form = CustomerEditForm(request.POST or None, customer=customer)
    conflict = False
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.customer_update(
                actor=request.user,
                customer_id=customer.pk,
                version=form.cleaned_data["version"],
                **form.changes(),
            )
        except Conflict:
            conflict = True
            form.add_error(
                None,
                _(
                    "Someone else saved this customer while you were editing. "
                    "Nothing was saved: reload the page, check their changes "
                    "and enter yours again."
                ),
            )
        except ValidationFailed as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Customer %(name)s saved.") % {"name": saved.name})  # the new name
            return redirect("customers:detail", pk=customer.pk)
    return render(
        request,
        "customers/customer_edit.html",
        {
            "form": form,
            "customer": customer,
            "conflict": conflict,
            "is_person": customer.kind == CustomerKind.PERSON,
        },
    )


@staff_required("customers.view_account", "customers.change_account")
def account_edit_view(request: HttpRequest, pk: int) -> HttpResponse:
    """修改用电户 (class, voltage, tariff, status, 重要用户, 费控) with optimistic locking."""
    account = (
        selectors.accounts_visible_to(request.user)
        .select_related("customer", "service_point")
        .filter(pk=pk)
        .first()
    )
    if account is None:
        raise Http404
    form = AccountEditForm(request.POST or None, account=account)
    conflict = False
    if request.method == "POST" and form.is_valid():
        try:
            services.account_update(
                actor=request.user,
                account_id=account.pk,
                version=form.cleaned_data["version"],
                **form.changes(),
            )
        except Conflict:
            conflict = True
            form.add_error(
                None,
                _(
                    "Someone else saved this account while you were editing. "
                    "Nothing was saved: reload the page, check their changes "
                    "and enter yours again."
                ),
            )
        except ValidationFailed as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Account %(number)s saved.") % {"number": account.number})
            return redirect("customers:detail", pk=account.customer_id)
    return render(
        request,
        "customers/account_edit.html",
        {
            "form": form,
            "account": account,
            "conflict": conflict,
        },
    )


# --- topology browser ---------------------------------------------------------------------


@staff_required("customers.view_transformer")
def topology_view(request: HttpRequest) -> HttpResponse:
    """Topology level 1: substations with their feeder and transformer counts."""
    return render(request, "customers/topology.html", {"substations": list(selectors.substation_tree())})


@staff_required("customers.view_transformer")
def topology_substation_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Topology level 2: the feeders of one substation."""
    substation = get_object_or_404(Substation, pk=pk)
    return render(
        request,
        "customers/topology_substation.html",
        {
            "substation": substation,
            "feeders": list(selectors.feeders_of(substation.pk)),
        },
    )


@staff_required("customers.view_transformer")
def topology_feeder_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Topology level 3: the transformer areas of one feeder."""
    feeder = get_object_or_404(Feeder.objects.select_related("substation"), pk=pk)
    return render(
        request,
        "customers/topology_feeder.html",
        {
            "feeder": feeder,
            "transformers": list(selectors.transformers_of(feeder.pk)),
        },
    )


@staff_required("customers.view_transformer", "customers.view_account")
def topology_transformer_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Topology level 4: the accounts behind one transformer area (台区户表), paginated."""
    transformer = get_object_or_404(Transformer.objects.select_related("feeder__substation"), pk=pk)
    page = paginate(request, selectors.accounts_of_transformer(transformer.pk))
    return render(
        request,
        "customers/topology_transformer.html",
        {
            "transformer": transformer,
            "page": page,
            "can_view_customer": request.user.has_perm("customers.view_customer"),
        },
    )
