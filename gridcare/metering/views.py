"""Staff console of metering (电能计量): meter search and detail, the reading-exception
queue, reading import jobs, verification requests and the periodic-verification due list.

Views stay thin: parse the request, call one selector or service, render. Every view
checks its permission with :func:`gridcare.core.permissions.staff_required`; actions that
write check the write permission too. Service errors are shown on the form field they name
or as a message.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from gridcare.core.engine.cells import text_cell
from gridcare.core.errors import Conflict, GridCareError, NotFound, ValidationFailed
from gridcare.core.pagination import paginate
from gridcare.core.permissions import staff_required
from gridcare.customers import selectors as customer_selectors
from gridcare.customers.forms import add_service_error
from gridcare.metering.choices import ImportStatus, ReadingQuality, Register, VeeRule, VerificationStatus
from gridcare.metering.forms import (
    RESOLVE_CHOICES,
    VERIFICATION_CHANNELS,
    ExceptionFilterForm,
    ExceptionResolveForm,
    ImportUploadForm,
    MeterSearchForm,
    ReadingEditForm,
    VerificationFilterForm,
    VerificationRequestForm,
    VerificationResultForm,
)
from gridcare.metering.models import Reading, ReadingImport
from gridcare.metering.selectors.assets import (
    DueReason,
    meter_current_installation,
    meter_get,
    meters_due_for_verification,
    meters_search,
)
from gridcare.metering.selectors.readings import (
    import_rejections,
    meter_daily_consumption,
    meter_register_readings,
    reading_exceptions_queue,
    reading_import_get,
    reading_imports_recent,
)
from gridcare.metering.selectors.verification import verification_request_get, verification_requests_list
from gridcare.metering.services.readings import (
    reading_edit,
    reading_exceptions_resolve,
    reading_import_create,
    reading_import_enqueue,
)
from gridcare.metering.services.verification import (
    verification_request_close,
    verification_request_file,
    verification_result_record,
)

CHART_DAYS = 90
REGISTER_TABLE_DAYS = 31
POLL_MS = 2000
RECENT_IMPORTS = 500  # the import list searches and pages over the newest jobs

# Badge colour per meter lifecycle status, import status and reading quality.
METER_BADGES = {"in_stock": "info", "installed": "ok", "removed": "warn", "scrapped": "muted"}
IMPORT_BADGES = {"queued": "muted", "running": "info", "done": "ok", "failed": "danger"}
EXCEPTION_BADGES = {
    "open": "warn",
    "reread": "info",
    "accepted": "ok",
    "estimated": "ok",
    "released": "muted",
}
QUALITY_BADGES: dict[str, str] = {
    ReadingQuality.SUSPECT.value: "warn",
    ReadingQuality.ESTIMATED.value: "info",
    ReadingQuality.EDITED.value: "muted",
}
VERIFICATION_BADGES = {"open": "warn", "tested": "info", "closed": "muted"}

# Why an import row was rejected (gridcare.metering.engine.parse.REASONS), for the clerk.
REJECTION_REASONS = {
    "extra_fields": gettext_lazy("Too many fields (字段过多)"),
    "missing_value": gettext_lazy("Empty field (缺项)"),
    "unknown_meter": gettext_lazy("Unknown meter (表号不存在)"),
    "unknown_register": gettext_lazy("Unknown register (示数类型错误)"),
    "register_not_on_meter": gettext_lazy("Register not on this meter (表计无此示数)"),
    "bad_date": gettext_lazy("Bad date (日期错误)"),
    "non_numeric": gettext_lazy("Not a number (示数非数字)"),
    "bad_source": gettext_lazy("Unknown source (来源错误)"),
    "duplicate_in_file": gettext_lazy("Duplicate in file (文件内重复)"),
}

# The deadline colour of a verification request (selectors.verification.deadline_state).
DEADLINE_LABELS = {
    "ok": gettext_lazy("On time"),
    "warn": gettext_lazy("Due within 24 h"),
    "danger": gettext_lazy("Overdue"),
}


def _reason_label(code: str) -> str:
    return str(REJECTION_REASONS.get(code, code))


def _today() -> dt.date:
    return timezone.localdate()


# --- meters ---------------------------------------------------------------------------------


@staff_required("metering.view_meter")
@require_GET
def meter_search_view(request: HttpRequest) -> HttpResponse:
    """电能表查询: asset number, barcode or 户号, filtered by lifecycle status."""
    form = MeterSearchForm(request.GET)
    params = form.cleaned_data if form.is_valid() else {"q": "", "status": ""}
    meters = meters_search(user=request.user, q=params["q"], status=params["status"] or None)
    page = paginate(request, meters)
    page.object_list = list(page.object_list)
    for meter in page.object_list:
        meter.badge = METER_BADGES.get(meter.status, "muted")
    return render(request, "metering/meter_search.html", {"form": form, "q": params["q"], "page": page})


def _register_table(
    meter: Any, *, user: Any, today: dt.date
) -> tuple[list[str], list[dict[str, Any]], list[Any]]:
    """The last 31 days × the meter's registers (newest day first) and the readings in it."""
    start = today - dt.timedelta(days=REGISTER_TABLE_DAYS - 1)
    readings = meter_register_readings(user=user, meter_id=meter.pk, start=start, end=today)
    order = [code for code in Register.values if code in (meter.registers or [])]
    by_day: dict[dt.date, dict[str, Reading]] = {}
    for reading in readings:
        reading.badge = QUALITY_BADGES.get(reading.quality, "")  # type: ignore[attr-defined]
        by_day.setdefault(reading.day, {})[reading.register] = reading
    rows = [
        {"day": day, "cells": [cells.get(code) for code in order]}
        for day, cells in sorted(by_day.items(), reverse=True)
    ]
    return order, rows, readings


def _chart_data(meter_id: int, *, today: dt.date) -> dict[str, Any]:
    """Every day of the last 90 (a day without consumption stays empty, not zero) and the
    summary line shown under the chart."""
    start = today - dt.timedelta(days=CHART_DAYS - 1)
    series = dict(meter_daily_consumption(meter_id=meter_id, start=start, end=today))
    days = [start + dt.timedelta(days=n) for n in range(CHART_DAYS)]
    values = list(series.values())
    return {
        "days": [day.isoformat() for day in days],
        "kwh": [str(series[day]) if day in series else None for day in days],
        "total": sum(values, Decimal(0)),
        "peak": max(values) if values else None,
        "count": len(values),
        "start": start,
        "end": today,
    }


def _readings_text(readings: dict[str, Any] | None, labels: dict[str, Any]) -> list[tuple[Any, Any]]:
    return [(labels.get(code, code), value) for code, value in (readings or {}).items()]


@staff_required("metering.view_meter")
@require_http_methods(["GET", "POST"])
def meter_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """电能表档案: asset card, installation history, 90-day consumption chart, the register
    table of the last 31 days and, for users who may, the reading edit (人工修改示数)."""
    try:
        meter = meter_get(user=request.user, meter_id=pk)
    except NotFound as exc:
        raise Http404 from exc
    user = request.user
    can_edit = user.has_perm("metering.change_reading")
    if request.method == "POST" and not can_edit:
        raise PermissionDenied
    today = _today()
    registers, rows, readings = _register_table(meter, user=request.user, today=today)
    register_labels = dict(Register.choices)
    choices = [
        (r.key_on_meter, f"{r.day:%Y-%m-%d} · {register_labels.get(r.register, r.register)} · {r.value}")
        for r in readings
    ]
    edit_form = None
    if can_edit:
        initial = {}
        if request.GET.get("reading"):
            initial["reading"] = request.GET["reading"]
        edit_form = ReadingEditForm(request.POST or None, readings=choices, initial=initial)
        if request.method == "POST" and edit_form.is_valid():
            data = edit_form.cleaned_data
            register, day = Reading.split_key_on_meter(data["reading"])
            try:
                reading = reading_edit(
                    actor=user,
                    meter_id=meter.pk,
                    register=register,
                    day=day,
                    value=data["value"],
                    reason=data["reason"],
                )
            except NotFound:
                edit_form.add_error("reading", _("This reading no longer exists."))
            except ValidationFailed as exc:
                add_service_error(edit_form, exc)
            else:
                messages.success(
                    request,
                    _("Reading of %(day)s (%(register)s) changed to %(value)s.")
                    % {
                        "day": f"{reading.day:%Y-%m-%d}",
                        "register": register_labels.get(reading.register, reading.register),
                        "value": reading.value,
                    },
                )
                return redirect("metering:meter", pk=meter.pk)
    installations = [
        {
            "inst": inst,
            "initial": _readings_text(inst.initial_readings, register_labels),
            "final": _readings_text(inst.final_readings, register_labels),
        }
        for inst in meter.installations.all()
    ]
    chart = _chart_data(meter.pk, today=today)
    return render(
        request,
        "metering/meter_detail.html",
        {
            "meter": meter,
            "badge": METER_BADGES.get(meter.status, "muted"),
            "register_labels": [register_labels[code] for code in meter.registers if code in register_labels],
            "current": meter_current_installation(meter),
            "installations": installations,
            "can_view_customer": user.has_perm("customers.view_customer"),
            "chart": chart,
            "chart_data": {"days": chart["days"], "kwh": chart["kwh"], "unit": "kWh", "name": _("Daily use")},
            "table_registers": [register_labels[code] for code in registers],
            "table_rows": rows,
            "table_start": today - dt.timedelta(days=REGISTER_TABLE_DAYS - 1),
            "today": today,
            "edit_form": edit_form,
        },
    )


@staff_required("metering.view_meter")
@require_GET
def meters_due_view(request: HttpRequest) -> HttpResponse:
    """周期检定/轮换: installed meters due for periodic verification or replacement today."""
    today = _today()
    q = request.GET.get("q", "").strip()
    reason = request.GET.get("reason", "")
    if reason not in DueReason.values:
        reason = ""
    rows = meters_due_for_verification(user=request.user, on=today)
    if reason:
        rows = [row for row in rows if row.reason == reason]
    if q:
        rows = [
            row
            for row in rows
            if q in row.meter.asset_no or q in row.meter.barcode or (row.account_number or "").startswith(q)
        ]
    page = paginate(request, rows)
    return render(
        request,
        "metering/due.html",
        {"page": page, "q": q, "reason": reason, "reasons": DueReason.choices, "today": today},
    )


# --- reading exceptions ---------------------------------------------------------------------


def _exception_filters(request: HttpRequest) -> tuple[ExceptionFilterForm, dict[str, Any]]:
    data = request.GET.copy()
    if "status" not in data:
        data["status"] = "open"
    form = ExceptionFilterForm(data)
    if form.is_valid():
        params = dict(form.cleaned_data)
    else:
        params = {"rule": "", "area_type": "", "min_age_days": None, "status": "open"}
    return form, params


def _detail_text(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {value}" for key, value in detail.items())
    return "" if detail is None else str(detail)


@staff_required("metering.view_readingexception")
@require_http_methods(["GET", "POST"])
def exceptions_view(request: HttpRequest) -> HttpResponse:
    """抄表异常队列: filter by rule, area type, age and status; tick exceptions and accept,
    estimate, send for re-read or release them with a note."""
    user = request.user
    can_resolve = user.has_perm("metering.change_readingexception")
    if request.method == "POST":
        if not can_resolve:
            raise PermissionDenied
        resolve = ExceptionResolveForm(request.POST)
        if resolve.is_valid():
            data = resolve.cleaned_data
            try:
                count = reading_exceptions_resolve(
                    actor=user, exception_ids=data["ids"], action=data["action"], note=data["note"]
                )
            except (ValidationFailed, Conflict) as exc:
                messages.error(request, str(exc.message))
            except NotFound:
                messages.error(
                    request, _("Some of the selected exceptions no longer exist; nothing was changed.")
                )
            else:
                action = dict(RESOLVE_CHOICES).get(data["action"], data["action"])
                messages.success(
                    request,
                    _("%(count)d exception(s) handled: %(action)s.") % {"count": count, "action": action},
                )
        else:
            for errors in resolve.errors.values():
                for error in errors:
                    messages.error(request, str(error))
        return redirect(request.get_full_path())
    form, params = _exception_filters(request)
    queue = reading_exceptions_queue(
        user=user,
        rule=params["rule"] or None,
        area_type=params["area_type"] or None,
        min_age_days=params["min_age_days"],
        status=params["status"] or None,
    )
    page = paginate(request, queue)
    page.object_list = list(page.object_list)
    now = timezone.now()
    for item in page.object_list:
        item.age_days = (now - item.opened_at).days
        item.detail_text = _detail_text(item.detail)
        item.badge = EXCEPTION_BADGES.get(item.status, "muted")
    by_rule_queue = reading_exceptions_queue(
        user=user,
        area_type=params["area_type"] or None,
        min_age_days=params["min_age_days"],
        status=params["status"] or None,
    )
    counts = dict(by_rule_queue.order_by().values_list("rule").annotate(n=Count("id")))
    tiles = [
        {"rule": value, "label": label, "count": counts.get(value, 0)} for value, label in VeeRule.choices
    ]
    return render(
        request,
        "metering/exceptions.html",
        {
            "form": form,
            "params": params,
            "page": page,
            "tiles": tiles,
            "can_resolve": can_resolve,
            "resolve_form": ExceptionResolveForm(),
        },
    )


# --- reading imports --------------------------------------------------------------------------


@staff_required("metering.view_readingimport")
@require_http_methods(["GET", "POST"])
def imports_view(request: HttpRequest) -> HttpResponse:
    """抄表数据导入: upload a reading file (queued for the background worker) and the list of
    recent import jobs."""
    user = request.user
    can_upload = user.has_perm("metering.add_readingimport")
    form = None
    if can_upload:
        form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if form is None:
            raise PermissionDenied
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = reading_import_create(
                    actor=user,
                    source_name=upload.name,
                    content=upload.read(),
                    channel=form.cleaned_data["channel"],
                )
            except ValidationFailed as exc:
                add_service_error(form, exc)
            else:
                reading_import_enqueue(job)
                messages.success(
                    request,
                    _("File %(name)s received; it is queued for import.") % {"name": job.source_name},
                )
                return redirect("metering:import", pk=job.pk)
    q = request.GET.get("q", "").strip()
    status = request.GET.get("status", "")
    if status not in ImportStatus.values:
        status = ""
    jobs = list(reading_imports_recent(user, limit=RECENT_IMPORTS))
    if q:
        jobs = [job for job in jobs if q.lower() in job.source_name.lower()]
    if status:
        jobs = [job for job in jobs if job.status == status]
    page = paginate(request, jobs)
    for job in page.object_list:
        job.badge = IMPORT_BADGES.get(job.status, "muted")
    return render(
        request,
        "metering/imports.html",
        {"form": form, "page": page, "q": q, "status": status, "statuses": ImportStatus.choices},
    )


def _import_get(request: HttpRequest, pk: int) -> ReadingImport:
    job = reading_import_get(user=request.user, import_id=pk)
    if job is None:
        raise Http404
    return job


def _progress(job: ReadingImport) -> dict[str, Any]:
    total = job.total_rows
    percent = (
        100 if job.status == ImportStatus.DONE else (int(job.processed_rows * 100 / total) if total else 0)
    )
    return {
        "id": job.pk,
        "status": job.status,
        "status_label": str(ImportStatus(job.status).label),
        "total_rows": total,
        "processed_rows": job.processed_rows,
        "percent": min(percent, 100),
        "inserted_rows": job.inserted_rows,
        "duplicate_rows": job.duplicate_rows,
        "rejected_rows": job.rejected_rows,
        "exceptions_opened": job.exceptions_opened,
        "in_progress": job.status in (ImportStatus.QUEUED, ImportStatus.RUNNING),
        "error": job.error,
        "text": _("%(processed)s of %(total)s rows processed (%(percent)d%%).")
        % {"processed": f"{job.processed_rows:,}", "total": f"{total:,}", "percent": min(percent, 100)},
    }


@staff_required("metering.view_readingimport")
@require_GET
def import_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One import job: progress while it runs, then its counts and the rejected rows."""
    job = _import_get(request, pk)
    page = paginate(request, import_rejections(user=request.user, reading_import=job))
    page.object_list = list(page.object_list)
    for row in page.object_list:
        row.reason_label = _reason_label(row.reason)
    progress = _progress(job)
    return render(
        request,
        "metering/import_detail.html",
        {
            "job": job,
            "badge": IMPORT_BADGES.get(job.status, "muted"),
            "progress": progress,
            "page": page,
            "poll": {
                "url": reverse("metering:import_progress", args=[job.pk]),
                "interval_ms": POLL_MS,
            },
        },
    )


@staff_required("metering.view_readingimport")
@require_GET
def import_progress_view(request: HttpRequest, pk: int) -> JsonResponse:
    """The job's status and counters as JSON, polled by the job page while it runs."""
    response = JsonResponse(_progress(_import_get(request, pk)))
    response["Cache-Control"] = "no-store"
    return response


class _Echo:
    """A file-like object whose ``write`` hands the line back (for streaming csv.writer)."""

    def write(self, value: str) -> str:
        return value


# staff_required passes any response through; its type names HttpResponse only.
@staff_required("metering.view_readingimport")  # type: ignore[arg-type]
@require_GET
def import_rejections_csv_view(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The rejected rows as a CSV (line, reason, detail, raw) with a UTF-8 byte-order mark so
    Excel shows the Chinese reasons correctly; streamed, so a large file never sits in memory."""
    job = _import_get(request, pk)
    rows = import_rejections(user=request.user, reading_import=job)
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield "\ufeff"
        yield writer.writerow([_("line"), _("reason"), _("detail"), _("raw")])
        for line_no, reason, detail, raw in rows.values_list("line_no", "reason", "detail", "raw").iterator(
            chunk_size=2000
        ):
            yield writer.writerow([line_no, _reason_label(reason), text_cell(detail), text_cell(raw)])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-rejected.csv"'
    return response


# --- verification requests ---------------------------------------------------------------------


@staff_required("metering.view_verificationrequest")
@require_GET
def verifications_view(request: HttpRequest) -> HttpResponse:
    """计量装置校验申请: the requests with their deadline colour, oldest deadline first."""
    form = VerificationFilterForm(request.GET, statuses=VerificationStatus.choices)
    params = form.cleaned_data if form.is_valid() else {"q": "", "status": "", "overdue": False}
    requests = verification_requests_list(
        user=request.user, status=params["status"] or None, overdue=True if params["overdue"] else None
    )
    q = params["q"].strip()
    if q:
        requests = [
            r for r in requests if q in r.number or r.account.number.startswith(q) or q in r.meter.asset_no
        ]
    page = paginate(request, requests)
    for item in page.object_list:
        item.badge = VERIFICATION_BADGES.get(item.status, "muted")
        item.deadline_label = DEADLINE_LABELS.get(item.deadline_state, "")
    return render(
        request,
        "metering/verifications.html",
        {
            "form": form,
            "page": page,
            "can_file": request.user.has_perm("metering.add_verificationrequest"),
        },
    )


@staff_required("metering.view_verificationrequest", "metering.add_verificationrequest")
@require_http_methods(["GET", "POST"])
def verification_new_view(request: HttpRequest) -> HttpResponse:
    """受理校验申请: the account (户号), the channel and what the customer says."""
    form = VerificationRequestForm(
        request.POST or None, initial={"account_number": request.GET.get("account", "")}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            account = customer_selectors.account_get(user=request.user, number=data["account_number"].strip())
        except NotFound:
            form.add_error("account_number", _("No account with this number."))
        else:
            try:
                filed = verification_request_file(
                    actor=request.user, account=account, channel=data["channel"], complaint=data["complaint"]
                )
            except (ValidationFailed, Conflict) as exc:
                add_service_error(form, exc, {"meter": "account_number", "requested_at": "account_number"})
            else:
                messages.success(
                    request,
                    _("Verification request %(number)s filed; the result is due by %(due)s.")
                    % {"number": filed.number, "due": f"{timezone.localtime(filed.due_at):%Y-%m-%d %H:%M}"},
                )
                return redirect("metering:verification", pk=filed.pk)
    return render(request, "metering/verification_new.html", {"form": form})


@staff_required("metering.view_verificationrequest")
@require_http_methods(["GET", "POST"])
def verification_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One verification request: the result form while it is open, the 退补 record when the
    meter was out of tolerance, and closing once the customer has been answered."""
    user = request.user
    try:
        item = verification_request_get(user=user, request_id=pk)
    except NotFound as exc:
        raise Http404 from exc
    can_test = user.has_perm("metering.change_verificationrequest")
    result_form = None
    if can_test and item.status == VerificationStatus.OPEN:
        posted = request.method == "POST" and request.POST.get("form") == "result"
        result_form = VerificationResultForm(
            request.POST if posted else None,
            initial={"tested_at": timezone.localtime().replace(second=0, microsecond=0)},
        )
    if request.method == "POST":
        if not can_test:
            raise PermissionDenied
        which = request.POST.get("form")
        if which == "result" and result_form is not None and result_form.is_valid():
            data = result_form.cleaned_data
            try:
                verification_result_record(
                    actor=user,
                    request_id=item.pk,
                    error_pct=data["error_pct"],
                    tested_at=data["tested_at"],
                    tester=data["tester"],
                )
            except (ValidationFailed, Conflict) as exc:
                add_service_error(result_form, exc)
            else:
                messages.success(request, _("Result recorded."))
                return redirect("metering:verification", pk=item.pk)
        elif which == "result" and result_form is None:
            messages.error(request, _("A result is recorded only for an open request."))
            return redirect("metering:verification", pk=item.pk)
        elif which == "close":
            try:
                verification_request_close(actor=user, request_id=item.pk, note=request.POST.get("note", ""))
            except GridCareError as exc:
                messages.error(request, str(exc.message))
            else:
                messages.success(request, _("Request closed."))
            return redirect("metering:verification", pk=item.pk)
    adjustment = getattr(item, "adjustment", None)  # the 退补 record, when out of tolerance
    state = getattr(item, "deadline_state", "")
    return render(
        request,
        "metering/verification_detail.html",
        {
            "item": item,
            "badge": VERIFICATION_BADGES.get(item.status, "muted"),
            "deadline_label": DEADLINE_LABELS.get(state, ""),
            "channel_label": dict(VERIFICATION_CHANNELS).get(item.channel, item.channel),
            "result_form": result_form,
            "can_close": can_test and item.status == VerificationStatus.TESTED,
            "adjustment": adjustment,
        },
    )
