"""Customer self-service portal pages (网上营业厅 / 用电查询): only the customer's own data."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _

from gridcare.billing.models import AccountBalance, PaymentAllocation
from gridcare.billing.selectors.bills import bill_get, bills_visible_to, with_outstanding
from gridcare.billing.selectors.payments import payments_visible_to
from gridcare.billing.selectors.refunds import refund_requests_search
from gridcare.billing.services.bills import bill_notice
from gridcare.core.errors import Conflict, NotFound, ValidationFailed
from gridcare.core.pagination import paginate
from gridcare.core.permissions import customer_required
from gridcare.customers.selectors import account_get
from gridcare.customers.services import customer_update
from gridcare.portal.forms import MobileChangeForm
from gridcare.portal.selectors import my_accounts, my_customer


@customer_required
def home(request: HttpRequest) -> HttpResponse:
    """我的账户: the customer's accounts (paginated: an organisation may hold hundreds), with
    the services still to come as placeholders. Only the customer's own accounts are paged,
    whatever ``page`` asks for."""
    page = paginate(request, my_accounts(user=request.user))
    return render(request, "portal/home.html", {"page": page})


@customer_required
def account(request: HttpRequest, number: str) -> HttpResponse:
    """One of my accounts by 户号; someone else's account is a plain 404."""
    try:
        acct = account_get(user=request.user, number=number)
    except NotFound as exc:
        raise Http404(str(exc.message)) from exc
    return render(request, "portal/account.html", {"account": acct})


@customer_required
def profile(request: HttpRequest) -> HttpResponse:
    """个人资料: my customer record; the mobile can be changed (optimistic locking)."""
    try:
        customer = my_customer(user=request.user)
    except NotFound as exc:
        raise Http404(str(exc.message)) from exc
    initial = {"mobile": customer.mobile, "version": customer.version}
    form = MobileChangeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            customer_update(
                actor=request.user,
                customer_id=customer.pk,
                version=form.cleaned_data["version"],
                mobile=form.cleaned_data["mobile"],
            )
        except Conflict as exc:
            # Show what is stored now and arm the form with the current version, so the
            # customer can look and submit again deliberately.
            customer = my_customer(user=request.user)
            data = request.POST.copy()
            data["version"] = str(customer.version)
            form = MobileChangeForm(data, initial=initial)
            form.is_valid()
            form.add_error("mobile", exc.message)
        except ValidationFailed as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, _("Your mobile number has been changed."))
            return redirect("portal:profile")
    return render(request, "portal/profile.html", {"customer": customer, "form": form})


def _my_bill(request: HttpRequest, pk: int) -> Any:
    """One of my issued bills; another customer's bill (or a draft) is a plain 404."""
    try:
        return bill_get(user=request.user, bill_id=pk)
    except NotFound as exc:
        raise Http404(str(exc.message)) from exc


@customer_required
def bills(request: HttpRequest) -> HttpResponse:
    """我的账单: the issued bills of my accounts, newest month first, with what is still owed."""
    items = with_outstanding(bills_visible_to(request.user).select_related("account")).order_by(
        "-period", "account__number"
    )
    account_number = request.GET.get("account", "").strip()
    if account_number:
        items = items.filter(account__number=account_number)
    return render(
        request,
        "portal/bills.html",
        {"page": paginate(request, items), "portal_section": "bills", "account_number": account_number},
    )


@customer_required
def bill(request: HttpRequest, pk: int) -> HttpResponse:
    """One of my bills as its 电费通知单."""
    found = _my_bill(request, pk)
    return render(request, "portal/bill.html", {"notice": bill_notice(found), "portal_section": "bills"})


@customer_required
def bill_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """One of my bills as PDF."""
    from gridcare.billing.views.bills import notice_pdf_response

    return notice_pdf_response(_my_bill(request, pk))


@customer_required
def payments(request: HttpRequest) -> HttpResponse:
    """我的缴费记录: the payments to my accounts, newest first, each with the bills it paid
    (principal and late fee) and what went to the balance; and each account's balance (预收)."""
    allocations = PaymentAllocation.objects.select_related("bill").order_by("bill__period", "bill_id")
    items = payments_visible_to(request.user).prefetch_related(Prefetch("allocations", queryset=allocations))
    account_number = request.GET.get("account", "").strip()
    if account_number:
        items = items.filter(account__number=account_number)
    page = paginate(request, items)
    for payment in page.object_list:
        paid = [a for a in payment.allocations.all() if not a.reversed]
        payment.paid_bills = paid
        applied = sum((a.amount + a.late_fee for a in paid), start=Decimal(0))
        payment.to_balance = payment.amount - applied if paid else Decimal(0)
        payment.from_balance = -payment.to_balance  # credit applied with this payment (balances_apply)
    balances = AccountBalance.objects.filter(account__in=my_accounts(user=request.user), amount__gt=0)
    # 销户退费 still waiting for approval: no money paid back yet (not a payment row).
    refunds_waiting = refund_requests_search(user=request.user, status="pending", account=account_number)
    return render(
        request,
        "portal/payments.html",
        {
            "page": page,
            "portal_section": "payments",
            "account_number": account_number,
            "balances": balances.select_related("account").order_by("account__number"),
            "refunds_waiting": refunds_waiting,
        },
    )
