"""HTTP API of metering readings (抄表), mounted at ``/api/metering``.

Staff only, each endpoint checks its permission: posting readings needs
``metering.add_reading``, the exception queue ``metering.view_readingexception``, resolving
``metering.change_readingexception``. Portal customers are always refused (403).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema

from gridcare.core.errors import NotFound
from gridcare.core.roles import require_staff_perm
from gridcare.metering.models import ReadingException, ReadingImport
from gridcare.metering.selectors.readings import reading_exceptions_queue
from gridcare.metering.services.readings import (
    API_BATCH_LIMIT,
    RESOLVE_ACTIONS,
    reading_exceptions_resolve,
    readings_ingest_batch,
)

router = Router(tags=["metering"])

Channel = Literal["ami", "manual", "handheld"]
Action = Literal["accept", "estimate", "reread", "release"]
REJECTIONS_SHOWN = 1000


# --- schemas ------------------------------------------------------------------------------


class ReadingIn(Schema):
    """One register reading: asset number, register, day (YYYY-MM-DD) and value (kWh, as text
    so no precision is lost). Fields are checked row by row; bad rows come back rejected."""

    meter: str | int | None = None  # an AMI system may send a numeric asset number
    register_: str | None = Field(None, alias="register")
    day: str | None = None
    value: str | int | float | None = None
    source: str | None = None


class ReadingBatchIn(Schema):
    channel: Channel = "ami"
    readings: list[ReadingIn] = Field(..., max_length=API_BATCH_LIMIT)


class RejectionOut(Schema):
    line: int
    reason: str
    detail: str
    raw: str


class ImportOut(Schema):
    """An import job: its counters and (up to 1,000 of) its rejected rows with reasons."""

    id: int
    source_name: str
    channel: str
    status: str
    total_rows: int
    processed_rows: int
    inserted_rows: int
    duplicate_rows: int
    rejected_rows: int
    exceptions_opened: int
    error: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    rejections: list[RejectionOut]


class ExceptionOut(Schema):
    id: int
    meter: str
    account: str | None
    register_: str = Field(..., alias="register")
    rule: str
    day_from: dt.date
    day_to: dt.date
    detail: dict[str, Any]
    status: str
    opened_at: dt.datetime
    resolved_at: dt.datetime | None
    resolution_note: str


class ResolveIn(Schema):
    ids: list[int]
    action: Action
    note: str = ""


class ResolveOut(Schema):
    resolved: int
    status: str


# --- helpers --------------------------------------------------------------------------------


def _import_out(reading_import: ReadingImport) -> dict[str, Any]:
    rejections = reading_import.rejections.order_by("line_no")[:REJECTIONS_SHOWN]
    return {
        "id": reading_import.pk,
        "source_name": reading_import.source_name,
        "channel": reading_import.channel,
        "status": reading_import.status,
        "total_rows": reading_import.total_rows,
        "processed_rows": reading_import.processed_rows,
        "inserted_rows": reading_import.inserted_rows,
        "duplicate_rows": reading_import.duplicate_rows,
        "rejected_rows": reading_import.rejected_rows,
        "exceptions_opened": reading_import.exceptions_opened,
        "error": reading_import.error,
        "created_at": reading_import.created_at,
        "started_at": reading_import.started_at,
        "finished_at": reading_import.finished_at,
        "rejections": [
            {"line": r.line_no, "reason": r.reason, "detail": r.detail, "raw": r.raw} for r in rejections
        ],
    }


def _exception_out(exc: ReadingException) -> dict[str, Any]:
    return {
        "id": exc.pk,
        "meter": exc.meter.asset_no,
        "account": exc.account.number if exc.account else None,
        "register": exc.register,
        "rule": exc.rule,
        "day_from": exc.day_from,
        "day_to": exc.day_to,
        "detail": exc.detail if isinstance(exc.detail, dict) else {"value": exc.detail},
        "status": exc.status,
        "opened_at": exc.opened_at,
        "resolved_at": exc.resolved_at,
        "resolution_note": exc.resolution_note,
    }


# --- endpoints ----------------------------------------------------------------------------


@router.post("/readings", response=ImportOut, summary="Ingest a batch of register readings (抄表数据上传)")
def readings_post(request: HttpRequest, payload: ReadingBatchIn) -> dict[str, Any]:
    """Up to 10,000 readings per call, validated like a file import: malformed rows come back
    in ``rejections`` with a reason each and are not stored; every valid reading is stored
    once (posting the same batch again stores nothing new and counts duplicates)."""
    require_staff_perm(request.user, "metering.add_reading")
    records = [r.model_dump(exclude_none=True, by_alias=True) for r in payload.readings]
    reading_import = readings_ingest_batch(actor=request.user, records=records, channel=payload.channel)
    return _import_out(reading_import)


@router.get("/imports/{int:import_id}", response=ImportOut, summary="One import job and its progress")
def import_detail(request: HttpRequest, import_id: int) -> dict[str, Any]:
    require_staff_perm(request.user, "metering.view_readingimport")
    reading_import = ReadingImport.objects.filter(pk=import_id).first()
    if reading_import is None:
        raise NotFound()
    return _import_out(reading_import)


@router.get(
    "/exceptions", response=list[ExceptionOut], by_alias=True, summary="Reading-exception queue (抄表异常)"
)
def exceptions_list(
    request: HttpRequest,
    rule: str = "",
    status: str = "open",
    area_type: str = "",
    min_age_days: int | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Oldest first; ``status=""`` lists every status. At most ``limit`` (≤ 1000) rows."""
    require_staff_perm(request.user, "metering.view_readingexception")
    qs = reading_exceptions_queue(
        user=request.user,
        rule=rule or None,
        status=status or None,
        area_type=area_type or None,
        min_age_days=min_age_days,
    )
    return [_exception_out(e) for e in qs[: max(1, min(limit, 1000))]]


@router.post("/exceptions/resolve", response=ResolveOut, summary="Resolve reading exceptions in bulk")
def exceptions_resolve(request: HttpRequest, payload: ResolveIn) -> dict[str, Any]:
    """``accept``, ``estimate`` (missing days only), ``reread`` or ``release``; all or none:
    an exception already resolved refuses the whole call (409)."""
    require_staff_perm(request.user, "metering.view_readingexception", "metering.change_readingexception")
    count = reading_exceptions_resolve(
        actor=request.user, exception_ids=payload.ids, action=payload.action, note=payload.note
    )
    return {"resolved": count, "status": str(RESOLVE_ACTIONS[payload.action])}
