"""Billing console: collection (收费). The counter payment page (find the account → its
unpaid bills with the late fee to date → amount prefilled → post → printable receipt), the
payments list, reversal (冲正), the refund of a closed account's balance (销户退费: a clerk
requests it, another person approves or rejects it — the approval pays it — or the clerk
withdraws it while it waits), the arrears
aging report (chart and Excel), late-fee waivers (request and decide) and the bank
withholding batches.

Every view checks its permission with ``staff_required``; actions that write check the write
permission too. The counter form carries a hidden idempotency key, so a double-click (or a
resubmitted form) posts once.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from gridcare.billing.choices import (
    REFUND_CHANNELS,
    DocumentStatus,
    PaymentChannel,
    PaymentStatus,
    RefundRequestStatus,
)
from gridcare.billing.models import Bill
from gridcare.billing.selectors.payments import (
    AGING_BUCKETS,
    account_arrears,
    arrears_aging,
    payment_get,
    payments_search,
    waivers_visible_to,
    withholding_batches_visible_to,
)
from gridcare.billing.selectors.refunds import (
    refund_request_get,
    refund_requests_search,
    refund_requests_to_decide_count,
)
from gridcare.billing.services.late_fees import late_fee_waiver_decide, late_fee_waiver_request
from gridcare.billing.services.payments import (
    balance_refund_decide,
    balance_refund_request,
    balance_refund_withdraw,
    payment_post,
    payment_reverse,
)
from gridcare.core.errors import GridCareError, NotFound
from gridcare.core.money import fen_to_yuan
from gridcare.core.pagination import paginate
from gridcare.core.permissions import staff_required
from gridcare.customers.choices import AccountStatus
from gridcare.customers.forms import add_service_error
from gridcare.customers.models import Account

COUNTER_CHANNELS = [
    (PaymentChannel.COUNTER_CASH.value, PaymentChannel.COUNTER_CASH.label),
    (PaymentChannel.COUNTER_CARD.value, PaymentChannel.COUNTER_CARD.label),
]
BUCKET_LABELS = {
    "not_due": gettext_lazy("Not yet due"),
    "d1_30": gettext_lazy("1–30 days"),
    "d31_60": gettext_lazy("31–60 days"),
    "d61_90": gettext_lazy("61–90 days"),
    "d91_180": gettext_lazy("91–180 days"),
    "d181_plus": gettext_lazy("Over 180 days"),
}
AGING_BY = [
    ("customer_class", gettext_lazy("Customer class")),
    ("transformer", gettext_lazy("Transformer (台区)")),
]


# --- forms ----------------------------------------------------------------------------------


class CounterPaymentForm(forms.Form):
    account = forms.CharField(widget=forms.HiddenInput)
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    amount = forms.DecimalField(
        label=gettext_lazy("Amount received (yuan)"), max_digits=14, decimal_places=2, min_value=0.01
    )
    channel = forms.ChoiceField(label=gettext_lazy("Channel"), choices=COUNTER_CHANNELS)


class ReverseForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason for the reversal"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class RefundForm(forms.Form):
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    amount = forms.DecimalField(
        label=gettext_lazy("Amount to refund (yuan)"), max_digits=14, decimal_places=2, min_value=0.01
    )
    channel = forms.ChoiceField(
        label=gettext_lazy("Paid back by"), choices=[(c.value, c.label) for c in REFUND_CHANNELS]
    )
    reference = forms.CharField(
        label=gettext_lazy("Reference (bank transfer serial or cash voucher number)"), max_length=100
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason for the refund"), max_length=300, widget=forms.Textarea(attrs={"rows": 3})
    )


class RefundDecideForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("Reason for the decision (审批意见)"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    decision = forms.ChoiceField(
        choices=[("approve", gettext_lazy("Approve")), ("reject", gettext_lazy("Reject"))],
        widget=forms.HiddenInput,
    )


class RefundFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[("", gettext_lazy("Any")), *RefundRequestStatus.choices],
    )
    account = forms.CharField(label=gettext_lazy("Account number (户号)"), required=False, max_length=16)


class WaiverRequestForm(forms.Form):
    bill = forms.CharField(label=gettext_lazy("Bill number"), max_length=20)
    amount = forms.DecimalField(
        label=gettext_lazy("Late fee to waive (yuan)"), max_digits=14, decimal_places=2, min_value=0.01
    )
    reason = forms.CharField(label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 3}))


class PaymentFilterForm(forms.Form):
    account = forms.CharField(label=gettext_lazy("Account number (户号)"), required=False, max_length=16)
    channel = forms.ChoiceField(
        label=gettext_lazy("Channel"),
        required=False,
        choices=[("", gettext_lazy("Any")), *PaymentChannel.choices],
    )
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[("", gettext_lazy("Any")), *PaymentStatus.choices],
    )
    date_from = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput({"type": "date"})
    )
    date_to = forms.DateField(
        label=gettext_lazy("To"), required=False, widget=forms.DateInput({"type": "date"})
    )


# --- the counter ----------------------------------------------------------------------------


def _payment(request: HttpRequest, pk: int) -> Any:
    try:
        return payment_get(user=request.user, payment_id=pk)
    except NotFound:
        raise Http404 from None


def _arrears_context(request: HttpRequest, number: str) -> dict[str, Any]:
    arrears = account_arrears(user=request.user, account_number=number, as_of=timezone.localdate())
    bills = [
        {
            "row": b,
            "outstanding": fen_to_yuan(b.outstanding_fen),
            "late_fee": fen_to_yuan(b.late_fee_fen),
            "overdue_days": max(0, (arrears.as_of - b.due_date).days),
        }
        for b in arrears.bills
    ]
    return {"arrears": arrears, "bills": bills}


@staff_required("billing.view_payment", "billing.add_payment")
@require_http_methods(["GET", "POST"])
def counter_view(request: HttpRequest) -> HttpResponse:
    """柜台收费: find an account by 户号, see what it owes, take the money."""
    context: dict[str, Any] = {"channels": COUNTER_CHANNELS}
    if request.method == "POST":
        form = CounterPaymentForm(request.POST)
        number = request.POST.get("account", "")
        if form.is_valid():
            account = Account.objects.filter(number=form.cleaned_data["account"].strip()).first()
            if account is None:
                raise Http404
            try:
                payment = payment_post(
                    actor=request.user,
                    account_id=account.pk,
                    amount=form.cleaned_data["amount"],
                    channel=form.cleaned_data["channel"],
                    idempotency_key=f"counter:{form.cleaned_data['key']}",
                )
            except GridCareError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, _("Payment %(number)s posted.") % {"number": payment.number})
                return redirect("billing:payments_receipt", pk=payment.pk)
    else:
        number = request.GET.get("account", "").strip()
        form = None
    context["query"] = number
    if number:
        try:
            context.update(_arrears_context(request, number))
        except NotFound:
            context["not_found"] = True
        else:
            account = context["arrears"].account
            if account.status == AccountStatus.CLOSED:
                context["refunds"] = refunds = _account_refunds(request, account)
                context["refund_waiting"] = next(
                    (r for r in refunds if r.status == RefundRequestStatus.PENDING), None
                )
            if form is None:
                form = CounterPaymentForm(
                    initial={
                        "account": context["arrears"].account.number,
                        "key": uuid.uuid4().hex,
                        "amount": context["arrears"].total_due or None,
                        "channel": PaymentChannel.COUNTER_CASH,
                    }
                )
    context["form"] = form
    return render(request, "billing/payments_counter.html", context)


@staff_required("billing.view_payment")
@require_GET
def receipt_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The printable receipt (收费凭证) of one payment and its allocation."""
    payment = _payment(request, pk)
    allocations = list(payment.allocations.select_related("bill").order_by("bill__period", "bill_id"))
    return render(request, "billing/payments_receipt.html", {"payment": payment, "allocations": allocations})


# --- payments list and reversal -------------------------------------------------------------


@staff_required("billing.view_payment")
@require_GET
def payments_view(request: HttpRequest) -> HttpResponse:
    form = PaymentFilterForm(request.GET or None)
    filters: dict[str, Any] = {}
    if form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    qs = payments_search(user=request.user, **filters)
    page = paginate(request, qs)
    return render(request, "billing/payments_list.html", {"form": form, "page": page})


@staff_required("billing.view_payment", "billing.change_payment")
@require_http_methods(["GET", "POST"])
def reverse_view(request: HttpRequest, pk: int) -> HttpResponse:
    """冲正 with a reason; the bills owe again and the balance part is taken back."""
    payment = _payment(request, pk)
    form = ReverseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            payment_reverse(actor=request.user, payment_id=payment.pk, reason=form.cleaned_data["reason"])
        except GridCareError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Payment %(number)s reversed.") % {"number": payment.number})
            return redirect("billing:payments_receipt", pk=payment.pk)
    return render(request, "billing/payments_reverse.html", {"payment": payment, "form": form})


def _account_refunds(request: HttpRequest, account: Account) -> list[Any]:
    """The account's refund requests the user may see, newest first (pending first)."""
    return list(refund_requests_search(user=request.user, account=account.number)[:10])


@staff_required("billing.view_payment", "billing.add_refundrequest")
@require_http_methods(["GET", "POST"])
def refund_view(request: HttpRequest, number: str) -> HttpResponse:
    """销户退费申请: request that a closed account's balance be paid back (the amount
    prefilled with the balance). Nothing is paid yet: another person approves or rejects
    the request (:func:`refund_request_view`)."""
    try:
        context = _arrears_context(request, number)
    except NotFound:
        raise Http404 from None
    arrears = context["arrears"]
    form = RefundForm(
        request.POST or None,
        initial={
            "key": uuid.uuid4().hex,
            "amount": arrears.balance if arrears.balance > 0 else None,
            "channel": PaymentChannel.REFUND_BANK,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            refund = balance_refund_request(
                actor=request.user,
                account_id=arrears.account.pk,
                amount=form.cleaned_data["amount"],
                channel=form.cleaned_data["channel"],
                reference=form.cleaned_data["reference"],
                reason=form.cleaned_data["reason"],
                idempotency_key=f"refund:{form.cleaned_data['key']}",
            )
        except GridCareError as exc:
            add_service_error(form, exc)
        else:
            messages.success(
                request, _("Refund requested: another person approves it before the money is paid back.")
            )
            return redirect("billing:payments_refund_request", pk=refund.pk)
    refunds = _account_refunds(request, arrears.account)
    context.update(
        {
            "form": form,
            "closed": arrears.account.status == AccountStatus.CLOSED,
            "refunds": refunds,
            "waiting": next((r for r in refunds if r.status == RefundRequestStatus.PENDING), None),
        }
    )
    return render(request, "billing/payments_refund.html", context)


@staff_required("billing.view_refundrequest")
@require_GET
def refunds_view(request: HttpRequest) -> HttpResponse:
    """退费审批: the refund requests, pending first, with how many wait for this user."""
    form = RefundFilterForm(request.GET or None)
    filters: dict[str, Any] = {}
    if form.is_valid():
        filters = {k: v for k, v in form.cleaned_data.items() if v}
    page = paginate(request, refund_requests_search(user=request.user, **filters))
    return render(
        request,
        "billing/payments_refunds.html",
        {
            "form": form,
            "page": page,
            "to_decide": refund_requests_to_decide_count(request.user),
            "pending": RefundRequestStatus.PENDING,
        },
    )


def _refund_request_page(
    request: HttpRequest,
    pk: int,
    form: RefundDecideForm | None = None,
    *,
    status: int = 200,
    withdraw_error: str = "",
) -> HttpResponse:
    try:
        refund = refund_request_get(user=request.user, refund_request_id=pk)
    except NotFound:
        raise Http404 from None
    own = refund.requested_by_user_id == request.user.pk
    pending = refund.status == RefundRequestStatus.PENDING
    may_decide = pending and request.user.has_perm("billing.change_refundrequest") and not own
    # 撤回: the requester alone, while nobody has decided it (balance_refund_withdraw).
    may_withdraw = pending and own and request.user.has_perm("billing.add_refundrequest")
    return render(
        request,
        "billing/payments_refund_request.html",
        {
            "refund": refund,
            "own": own,
            "may_decide": may_decide,
            "may_withdraw": may_withdraw,
            "withdraw_error": withdraw_error,
            "form": form or RefundDecideForm(),
            "pending": RefundRequestStatus.PENDING,
        },
        status=status,
    )


@staff_required("billing.view_refundrequest")
@require_GET
def refund_request_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One refund request: what was asked, by whom, its decision; the approver's form."""
    return _refund_request_page(request, pk)


@staff_required("billing.view_refundrequest", "billing.change_refundrequest")
@require_POST
def refund_decide_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve (the money is paid back now) or reject a refund request, with the reason."""
    try:
        refund_request_get(user=request.user, refund_request_id=pk)
    except NotFound:
        raise Http404 from None
    form = RefundDecideForm(request.POST)
    if form.is_valid():
        approve = form.cleaned_data["decision"] == "approve"
        try:
            refund = balance_refund_decide(
                actor=request.user, refund_request_id=pk, approve=approve, note=form.cleaned_data["note"]
            )
        except GridCareError as exc:
            add_service_error(form, exc)
            return _refund_request_page(request, pk, form, status=exc.status)
        else:
            if refund.payment is not None:
                messages.success(
                    request,
                    _("Refund approved and paid back: %(number)s.") % {"number": refund.payment.number},
                )
            else:
                messages.success(request, _("Refund request rejected: no money was paid back."))
            return redirect("billing:payments_refund_request", pk=pk)
    return _refund_request_page(request, pk, form)


@staff_required("billing.view_refundrequest", "billing.add_refundrequest")
@require_POST
def refund_withdraw_view(request: HttpRequest, pk: int) -> HttpResponse:
    """撤回: the requester withdraws their own refund request while it waits; nothing was
    paid, nothing is. Anybody else, or a request already decided, is refused on the
    request's page (403 / 409) and nothing changes."""
    try:
        refund_request_get(user=request.user, refund_request_id=pk)
    except NotFound:
        raise Http404 from None
    try:
        balance_refund_withdraw(actor=request.user, refund_request_id=pk)
    except GridCareError as exc:
        return _refund_request_page(request, pk, status=exc.status, withdraw_error=str(exc.message))
    messages.success(
        request, _("Refund request withdrawn: nobody will decide it, and no money was paid back.")
    )
    return redirect("billing:payments_refund_request", pk=pk)


# --- arrears aging --------------------------------------------------------------------------


def _xlsx(report: dict[str, Any]) -> HttpResponse:
    import xlsxwriter  # type: ignore[import-untyped]  # no stubs (see the report)

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet(_("Arrears aging")[:31])
    bold = book.add_format({"bold": True})
    money = book.add_format({"num_format": "#,##0.00"})
    # Text cells through write_string: a label such as a transformer code starting with "="
    # stays text (xlsxwriter's write() would store it as a live formula).
    sheet.write_string(
        0, 0, _("Arrears aging (欠费账龄) as of %(day)s") % {"day": f"{report['as_of']:%Y-%m-%d}"}, bold
    )
    header = [str(dict(AGING_BY)[report["by"]]), *[str(BUCKET_LABELS[k]) for k in report["buckets"]]]
    header += [_("Total"), _("Bills")]
    for col, title in enumerate(header):
        sheet.write_string(2, col, title, bold)
    row = 3
    for entry in report["rows"]:
        sheet.write_string(row, 0, str(entry["label"]))
        for col, amount in enumerate(entry["amounts"], start=1):
            sheet.write_number(row, col, float(amount), money)  # Excel cells are binary floats
        sheet.write_number(row, len(entry["amounts"]) + 1, float(entry["total"]), money)
        sheet.write_number(row, len(entry["amounts"]) + 2, entry["bills"])
        row += 1
    sheet.write_string(row, 0, _("Total"), bold)
    for col, amount in enumerate(report["totals"], start=1):
        sheet.write_number(row, col, float(amount), money)
    sheet.write_number(row, len(report["totals"]) + 1, float(report["grand_total"]), money)
    sheet.set_column(0, 0, 28)
    sheet.set_column(1, len(header), 14)
    book.close()
    response = HttpResponse(
        out.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="arrears-aging-{report["as_of"]:%Y%m%d}.xlsx"'
    return response


@staff_required("billing.view_payment")
@require_GET
def aging_view(request: HttpRequest) -> HttpResponse:
    """欠费账龄: outstanding money by days overdue, by customer class or transformer."""
    by = request.GET.get("by", "customer_class")
    if by not in dict(AGING_BY):
        by = "customer_class"
    try:
        as_of = dt.date.fromisoformat(request.GET.get("as_of", ""))
    except ValueError:
        as_of = timezone.localdate()
    report = arrears_aging(user=request.user, as_of=as_of, by=by)
    if request.GET.get("format") == "xlsx":
        return _xlsx(report)
    chart = {
        "buckets": [str(BUCKET_LABELS[k]) for k in report["buckets"]],
        "series": [{"name": r["label"], "data": [str(a) for a in r["amounts"]]} for r in report["rows"]],
    }
    return render(
        request,
        "billing/payments_aging.html",
        {
            "report": report,
            "bucket_labels": [BUCKET_LABELS[k] for k, _low, _high in AGING_BUCKETS],
            "by_choices": AGING_BY,
            "chart": chart,
        },
    )


# --- waivers ------------------------------------------------------------------------------


@staff_required("billing.view_latefeewaiver")
@require_http_methods(["GET", "POST"])
def waivers_view(request: HttpRequest) -> HttpResponse:
    """违约金减免: the list (pending first) and the request form."""
    form = WaiverRequestForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("billing.add_latefeewaiver"):
            raise PermissionDenied
        if form.is_valid():
            bill = Bill.objects.filter(number=form.cleaned_data["bill"].strip()).first()
            try:
                if bill is None:
                    raise NotFound(_("No such bill."), field="bill")
                late_fee_waiver_request(
                    actor=request.user,
                    bill_id=bill.pk,
                    amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                )
            except GridCareError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, _("Waiver requested; another person decides it."))
                return redirect("billing:payments_waivers")
    page = paginate(request, waivers_visible_to(request.user))
    return render(
        request,
        "billing/payments_waivers.html",
        {"page": page, "form": form, "pending": DocumentStatus.PENDING},
    )


@staff_required("billing.view_latefeewaiver", "billing.change_latefeewaiver")
@require_POST
def waiver_decide_view(request: HttpRequest, pk: int) -> HttpResponse:
    approve = request.POST.get("decision") == "approve"
    try:
        late_fee_waiver_decide(
            actor=request.user, waiver_id=pk, approve=approve, note=request.POST.get("note", "")
        )
    except GridCareError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Waiver approved.") if approve else _("Waiver rejected."))
    return redirect("billing:payments_waivers")


# --- withholding --------------------------------------------------------------------------


@staff_required("billing.view_withholdingbatch")
@require_GET
def withholding_view(request: HttpRequest) -> HttpResponse:
    """银行代扣批次: batches sent to banks and their results (files by the CLI)."""
    page = paginate(request, withholding_batches_visible_to(request.user))
    return render(request, "billing/payments_withholding.html", {"page": page})


urlpatterns: list[URLPattern] = [
    path("payments/", payments_view, name="payments"),
    path("payments/counter/", counter_view, name="payments_counter"),
    path("payments/<int:pk>/", receipt_view, name="payments_receipt"),
    path("payments/<int:pk>/reverse/", reverse_view, name="payments_reverse"),
    path("payments/refund/<str:number>/", refund_view, name="payments_refund"),
    path("payments/refunds/", refunds_view, name="payments_refunds"),
    path("payments/refunds/<int:pk>/", refund_request_view, name="payments_refund_request"),
    path("payments/refunds/<int:pk>/decide/", refund_decide_view, name="payments_refund_decide"),
    path("payments/refunds/<int:pk>/withdraw/", refund_withdraw_view, name="payments_refund_withdraw"),
    path("payments/aging/", aging_view, name="payments_aging"),
    path("payments/waivers/", waivers_view, name="payments_waivers"),
    path("payments/waivers/<int:pk>/decide/", waiver_decide_view, name="payments_waiver_decide"),
    path("payments/withholding/", withholding_view, name="payments_withholding"),
]
