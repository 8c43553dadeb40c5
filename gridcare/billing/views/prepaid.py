"""Billing console: prepaid (费控) — accounts with their balance, one account's daily
charges/notices/orders, the remote-order queue with its actions; and the customer's own
prepaid page in the portal. docs/billing-prepaid.md."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from gridcare.billing.choices import RemoteOrderKind, RemoteOrderStatus
from gridcare.billing.selectors.prepaid import (
    PERM_ACT,
    PERM_VIEW,
    PERM_VIEW_ORDERS,
    STATES,
    balance_state,
    low_balance_in_force,
    my_prepaid_account,
    my_prepaid_accounts,
    prepaid_account_detail,
    prepaid_accounts,
    remote_orders_queue,
)
from gridcare.billing.services.prepaid import remote_order_confirm, remote_order_decide, remote_order_send
from gridcare.core.errors import GridCareError, NotFound
from gridcare.core.pagination import paginate
from gridcare.core.permissions import customer_required, staff_required
from gridcare.core.roles import staff_has_perm

STATE_BADGE = {"arrears": "danger", "low": "warn", "ok": "ok"}
ORDER_BADGE = {
    RemoteOrderStatus.NEEDS_PERSON: "danger",
    RemoteOrderStatus.PENDING: "warn",
    RemoteOrderStatus.SENT: "info",
    RemoteOrderStatus.DONE: "ok",
    RemoteOrderStatus.CANCELLED: "muted",
}


@staff_required(PERM_VIEW)
def accounts(request: HttpRequest) -> HttpResponse:
    """费控用户: prepaid accounts, lowest balance first, coloured by state."""
    q = request.GET.get("q", "")[:40]
    state = request.GET.get("state", "")
    state = state if state in STATES else ""
    low = low_balance_in_force()
    page = paginate(request, prepaid_accounts(user=request.user, q=q, state=state))
    rows = []
    for account in page.object_list:
        st = balance_state(account.balance_amount, low)
        rows.append({"account": account, "state": st, "badge": STATE_BADGE[st]})
    return render(
        request,
        "billing/prepaid_accounts.html",
        {
            "page": page,
            "rows": rows,
            "q": q,
            "state": state,
            "low": low,
            "states": [("arrears", _("In arrears (< 0)")), ("low", _("Low balance")), ("ok", _("OK"))],
            "can_view_orders": staff_has_perm(request.user, PERM_VIEW_ORDERS),
        },
    )


@staff_required(PERM_VIEW)
def account(request: HttpRequest, account_id: int) -> HttpResponse:
    """One prepaid account: balance, daily charges (chart and table), notices, orders."""
    try:
        data = prepaid_account_detail(user=request.user, account_id=account_id)
    except NotFound as exc:
        raise Http404(str(exc.message)) from exc
    data["badge"] = STATE_BADGE[data["state"]]
    data["order_badge"] = ORDER_BADGE
    data["can_view_orders"] = staff_has_perm(request.user, PERM_VIEW_ORDERS)
    return render(request, "billing/prepaid_account.html", data)


@staff_required(PERM_VIEW_ORDERS)
def orders(request: HttpRequest) -> HttpResponse:
    """远程停复电 queue: orders for a person first, overdue reconnects highlighted."""
    status = request.GET.get("status", "")
    kind = request.GET.get("kind", "")
    page = paginate(request, remote_orders_queue(user=request.user, status=status, kind=kind))
    return render(
        request,
        "billing/prepaid_orders.html",
        {
            "page": page,
            "status": status,
            "kind": kind,
            "statuses": RemoteOrderStatus.choices,
            "kinds": RemoteOrderKind.choices,
            "order_badge": ORDER_BADGE,
            "can_act": staff_has_perm(request.user, PERM_ACT),
            "needs_person": RemoteOrderStatus.NEEDS_PERSON,
            "pending": RemoteOrderStatus.PENDING,
            "sent": RemoteOrderStatus.SENT,
        },
    )


ACTIONS = ("send", "confirm", "approve", "decline")


@require_POST
@staff_required(PERM_VIEW_ORDERS, PERM_ACT)
def order_action(request: HttpRequest, order_id: int, action: str) -> HttpResponse:
    """Send, confirm, approve or decline one order (``billing.change_remoteorder``)."""
    if action not in ACTIONS:
        raise Http404()
    try:
        if action == "send":
            order = remote_order_send(actor=request.user, order_id=order_id)
        elif action == "confirm":
            order = remote_order_confirm(actor=request.user, order_id=order_id)
        else:
            order = remote_order_decide(
                actor=request.user,
                order_id=order_id,
                approve=action == "approve",
                note=request.POST.get("note", "")[:300],
            )
    except NotFound as exc:
        raise Http404(str(exc.message)) from exc
    except GridCareError as exc:
        messages.error(request, str(exc.message))
        return redirect("billing:prepaid_orders")
    messages.success(
        request,
        _("Order %(id)s is now: %(status)s.") % {"id": order.pk, "status": order.get_status_display()},
    )
    return redirect("billing:prepaid_orders")


@customer_required
def my_accounts(request: HttpRequest) -> HttpResponse:
    """Portal: my prepaid accounts and their balances."""
    rows = my_prepaid_accounts(user=request.user)
    for row in rows:
        row["badge"] = STATE_BADGE[row["state"]]
    return render(request, "billing/prepaid_my_accounts.html", {"rows": rows, "portal_section": "accounts"})


@customer_required
def my_account(request: HttpRequest, number: str) -> HttpResponse:
    """Portal: one of my prepaid accounts — balance, last 30 daily charges, reminders."""
    try:
        data = my_prepaid_account(user=request.user, number=number)
    except NotFound as exc:
        raise Http404(str(exc.message)) from exc
    data["badge"] = STATE_BADGE[data["state"]]
    data["portal_section"] = "accounts"
    return render(request, "billing/prepaid_my_account.html", data)


urlpatterns: list[URLPattern] = [
    path("prepaid/", accounts, name="prepaid_accounts"),
    path("prepaid/accounts/<int:account_id>/", account, name="prepaid_account"),
    path("prepaid/orders/", orders, name="prepaid_orders"),
    path("prepaid/orders/<int:order_id>/<str:action>/", order_action, name="prepaid_order_action"),
    path("prepaid/my/", my_accounts, name="prepaid_my_accounts"),
    path("prepaid/my/<str:number>/", my_account, name="prepaid_my_account"),
]
