"""Billing console: bills (账单查询, 电费通知单, PDF, the run's Excel export) and 退补
corrections (request, approval list, approve/reject, settling meter-verification records).

Views stay thin: parse → one selector or service → render. Every view checks its
permission with ``staff_required``; bills come from ``selectors.bills`` scoped by the user.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from gridcare.billing.choices import AdjustmentKind, BillStatus, DocumentStatus
from gridcare.billing.selectors.bills import (
    BillFilters,
    adjustments_visible_to,
    bill_get,
    bill_search,
)
from gridcare.billing.services.adjustments import (
    bill_adjustment_decide,
    bill_adjustment_request,
    bill_adjustments_from_meter_adjustment,
    meter_adjustment_shares,
)
from gridcare.billing.services.bills import bill_notice, bill_notice_pdf, run_export_request
from gridcare.core.errors import GridCareError, NotFound, ValidationFailed
from gridcare.core.pagination import paginate
from gridcare.core.permissions import staff_required
from gridcare.customers.forms import add_service_error

BILL_BADGES: dict[str, str] = {BillStatus.DRAFT: "info", BillStatus.ISSUED: "ok", BillStatus.VOID: "muted"}
DOC_BADGES: dict[str, str] = {
    DocumentStatus.PENDING: "warn",
    DocumentStatus.APPROVED: "ok",
    DocumentStatus.REJECTED: "muted",
}


def run_url(run_id: int | None, user: Any) -> str | None:
    """The run page (views/runs.py, URL name ``billing:run``) when it exists and ``user``
    may open it (a meter technician or inspector sees bills but not runs)."""
    if run_id is None or not user.has_perm("billing.view_billingrun"):
        return None
    try:
        return reverse("billing:run", args=[run_id])
    except NoReverseMatch:
        return None


class BillSearchForm(forms.Form):
    account = forms.CharField(label=gettext_lazy("Account number (户号)"), required=False, max_length=16)
    name = forms.CharField(label=gettext_lazy("Customer name"), required=False, max_length=100)
    period = forms.CharField(
        label=gettext_lazy("Period (YYYY-MM)"),
        required=False,
        max_length=7,
        widget=forms.TextInput(attrs={"placeholder": "2026-10"}),
    )
    status = forms.ChoiceField(
        label=gettext_lazy("Status"), required=False, choices=[("", gettext_lazy("All")), *BillStatus.choices]
    )
    run = forms.IntegerField(label=gettext_lazy("Run"), required=False, min_value=1, max_value=2**63 - 1)

    def clean_period(self) -> dt.date | None:
        value = (self.cleaned_data.get("period") or "").strip()
        if not value:
            return None
        try:
            return dt.datetime.strptime(value, "%Y-%m").date()  # noqa: DTZ007 - a month, no time
        except ValueError as exc:
            raise forms.ValidationError(_("Enter the month as YYYY-MM.")) from exc


class AdjustmentRequestForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=AdjustmentKind.choices)
    kwh = forms.DecimalField(
        label=gettext_lazy("Energy to correct (kWh)"),
        required=False,
        min_value=0,
        max_digits=14,
        decimal_places=3,
        help_text=gettext_lazy("Leave the amount empty to compute it by re-rating the bill's period."),
    )
    amount = forms.DecimalField(
        label=gettext_lazy("Amount (yuan)"), required=False, min_value=0, max_digits=14, decimal_places=2
    )
    reason = forms.CharField(
        label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 3}), max_length=2000
    )


def _bill_or_404(request: HttpRequest, pk: int) -> Any:
    try:
        return bill_get(user=request.user, bill_id=pk)
    except NotFound as exc:
        raise Http404 from exc


@staff_required("billing.view_bill")
@require_GET
def bills_view(request: HttpRequest) -> HttpResponse:
    """账单查询: by 户号, customer name, month, status and run; newest month first."""
    form = BillSearchForm(request.GET or None)
    filters = BillFilters()
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = BillFilters(
            account=data["account"] or "",
            name=data["name"] or "",
            period=data["period"],
            status=data["status"] or "",
            run=data["run"],
        )
    page = paginate(request, bill_search(request.user, filters))
    for bill in page.object_list:
        bill.badge = BILL_BADGES.get(bill.status, "muted")
    return render(request, "billing/bills_list.html", {"form": form, "page": page})


@staff_required("billing.view_bill")
@require_GET
def bill_view(request: HttpRequest, pk: int) -> HttpResponse:
    """账单详情: header, readings used, lines (其中 under energy), 退补, payments, outstanding."""
    bill = _bill_or_404(request, pk)
    notice = bill_notice(bill)
    user = request.user
    return render(
        request,
        "billing/bills_detail.html",
        {
            "bill": bill,
            "notice": notice,
            "badge": BILL_BADGES.get(bill.status, "muted"),
            "all_adjustments": [(a, DOC_BADGES.get(a.status, "muted")) for a in bill.adjustments.all()],
            "allocations": list(bill.allocations.all()),
            "run_url": run_url(bill.run_id, request.user),
            "can_adjust": bill.status == BillStatus.ISSUED and user.has_perm("billing.add_billadjustment"),
            "can_view_customer": user.has_perm("customers.view_customer"),
        },
    )


@staff_required("billing.view_bill")
@require_GET
def bill_notice_view(request: HttpRequest, pk: int) -> HttpResponse:
    """电费通知单 as a printable page."""
    bill = _bill_or_404(request, pk)
    return render(
        request,
        "billing/bills_notice.html",
        {"notice": bill_notice(bill), "pdf_url": reverse("billing:bill_notice_pdf", args=[bill.pk])},
    )


def notice_pdf_response(bill: Any) -> HttpResponse:
    """The PDF as an inline download named ``bill-<number>.pdf`` (shared with the portal)."""
    try:
        content = bill_notice_pdf(bill)
    except GridCareError as exc:
        return HttpResponse(str(exc.message), status=exc.status, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="bill-{bill.number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@staff_required("billing.view_bill")
@require_GET
def bill_notice_pdf_view(request: HttpRequest, pk: int) -> HttpResponse:
    """电费通知单 as PDF."""
    return notice_pdf_response(_bill_or_404(request, pk))


# staff_required passes any response through; its type names HttpResponse only.
@staff_required("billing.view_billingrun", "billing.view_bill")  # type: ignore[arg-type]
@require_GET
def run_export_view(request: HttpRequest, run_id: int) -> HttpResponse | FileResponse:
    """The run's bills and lines as an Excel workbook. A large run is built by the worker:
    the page says so and reloads itself until the file is ready (202 meanwhile)."""
    try:
        outcome = run_export_request(run_id=run_id)
    except NotFound as exc:
        raise Http404 from exc
    if outcome.handle is None:
        response = render(
            request,
            "billing/bills_export_wait.html",
            {"outcome": outcome, "run_id": run_id, "run_url": run_url(run_id, request.user)},
            status=202,
        )
        response["Refresh"] = "15"
        return response
    return FileResponse(
        outcome.handle,
        as_attachment=True,
        filename=outcome.filename,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


# --- 退补 ----------------------------------------------------------------------------------------


@staff_required("billing.view_bill", "billing.add_billadjustment")
@require_http_methods(["GET", "POST"])
def bill_adjustment_new_view(request: HttpRequest, pk: int) -> HttpResponse:
    """申请退补 from a bill page: kind, kWh and/or amount, reason."""
    bill = _bill_or_404(request, pk)
    form = AdjustmentRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            adjustment = bill_adjustment_request(
                actor=request.user,
                bill_id=bill.pk,
                kind=data["kind"],
                kwh=data["kwh"] or 0,
                amount=data["amount"],
                reason=data["reason"],
            )
        except GridCareError as exc:
            add_service_error(form, exc)
        else:
            messages.success(
                request,
                _("Correction %(number)s requested (%(amount)s); it waits for a second person's approval.")
                % {"number": adjustment.number, "amount": adjustment.amount},
            )
            return redirect("billing:bill_adjustment", pk=adjustment.pk)
    return render(request, "billing/bills_adjustment_new.html", {"bill": bill, "form": form})


@staff_required("billing.view_billadjustment")
@require_GET
def bill_adjustments_view(request: HttpRequest) -> HttpResponse:
    """退补审批: every correction, pending first; the open meter-verification records."""
    status = request.GET.get("status", "")
    items = adjustments_visible_to(request.user)
    if status in DocumentStatus.values:
        items = items.filter(status=status)
    page = paginate(request, items)
    for item in page.object_list:
        item.badge = DOC_BADGES.get(item.status, "muted")
    meter_records: list[Any] = []
    if request.user.has_perm("billing.add_billadjustment"):
        from gridcare.metering.choices import AdjustmentStatus
        from gridcare.metering.models import Adjustment

        meter_records = list(
            Adjustment.objects.filter(status=AdjustmentStatus.OPEN).select_related("account", "meter")[:100]
        )
    return render(
        request,
        "billing/bills_adjustments.html",
        {"page": page, "status": status, "statuses": DocumentStatus.choices, "meter_records": meter_records},
    )


@staff_required("billing.view_billadjustment")
@require_http_methods(["GET", "POST"])
def bill_adjustment_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One correction: what, why, by whom; approve or reject (a second person)."""
    item = adjustments_visible_to(request.user).filter(pk=pk).first()
    if item is None:
        raise Http404
    user = request.user
    can_decide = (
        user.has_perm("billing.change_billadjustment")
        and item.status == DocumentStatus.PENDING
        and item.requested_by != user.get_username()
    )
    if request.method == "POST":
        if not user.has_perm("billing.change_billadjustment"):
            raise PermissionDenied
        approve = request.POST.get("decision") == "approve"
        try:
            bill_adjustment_decide(
                actor=user, adjustment_id=item.pk, approve=approve, note=request.POST.get("note", "")
            )
        except GridCareError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, _("Correction approved.") if approve else _("Correction rejected."))
        return redirect("billing:bill_adjustment", pk=item.pk)
    return render(
        request,
        "billing/bills_adjustment_detail.html",
        {"item": item, "badge": DOC_BADGES.get(item.status, "muted"), "can_decide": can_decide},
    )


@staff_required("billing.view_billadjustment", "billing.add_billadjustment")
@require_http_methods(["GET", "POST"])
def bill_meter_adjustment_settle_view(request: HttpRequest, pk: int) -> HttpResponse:
    """结算验表退补: the record's bills with the energy each is corrected by; POST creates
    the corrections, one per overlapping bill, re-rated or — for a bill whose month cannot
    be re-rated — at the amount entered for it (``amount_<bill id>``). A refusal shows this
    page again with what was entered."""
    try:
        record, shares = meter_adjustment_shares(meter_adjustment_id=pk)
    except NotFound as exc:
        raise Http404 from exc
    entered = {s.bill.pk: request.POST.get(f"amount_{s.bill.pk}", "").strip() for s in shares}
    error = None
    if request.method == "POST":
        try:
            created = bill_adjustments_from_meter_adjustment(
                actor=request.user,
                meter_adjustment_id=pk,
                amounts={bill_id: value for bill_id, value in entered.items() if value},
            )
        except NotFound as exc:
            raise Http404 from exc
        except ValidationFailed as exc:
            error = str(exc.message)
        except GridCareError as exc:
            messages.error(request, str(exc.message))
            return redirect("billing:bill_adjustments")
        else:
            messages.success(
                request,
                _("%(count)d correction(s) created from the meter verification; they wait for approval.")
                % {"count": len(created)},
            )
            return redirect("billing:bill_adjustments")
    from gridcare.metering.choices import AdjustmentStatus

    rows = [{"share": share, "amount": entered.get(share.bill.pk, "")} for share in shares]
    return render(
        request,
        "billing/bills_meter_settle.html",
        {"record": record, "rows": rows, "error": error, "is_open": record.status == AdjustmentStatus.OPEN},
    )


urlpatterns: list[URLPattern] = [
    path("bills/", bills_view, name="bills"),
    path("bills/<int:pk>/", bill_view, name="bill"),
    path("bills/<int:pk>/notice/", bill_notice_view, name="bill_notice"),
    path("bills/<int:pk>/notice.pdf", bill_notice_pdf_view, name="bill_notice_pdf"),
    path("bills/<int:pk>/adjust/", bill_adjustment_new_view, name="bill_adjustment_new"),
    path("runs/<int:run_id>/export.xlsx", run_export_view, name="run_export"),
    path("adjustments/", bill_adjustments_view, name="bill_adjustments"),
    path("adjustments/<int:pk>/", bill_adjustment_view, name="bill_adjustment"),
    path(
        "adjustments/meter/<int:pk>/settle/",
        bill_meter_adjustment_settle_view,
        name="bill_meter_adjustment_settle",
    ),
]
