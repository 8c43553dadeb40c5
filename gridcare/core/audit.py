"""The audit trail helper every service calls (审计日志)."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import models
from django.utils import timezone

from gridcare.core.models import AuditEvent


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return value


def object_key(obj: models.Model) -> str:
    """How the audit trail names a row: its primary key; a composite key (a reading's
    meter, register and day) as its parts joined by "/" (``12/total/2026-10-01``)."""
    pk = obj.pk
    if isinstance(pk, tuple):
        return "/".join(str(_jsonable(part)) for part in pk)
    return str(pk)


def snapshot(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The audited state of ``obj``: its concrete fields (FKs as ids) as JSON-safe values."""
    names = list(fields) if fields is not None else [f.attname for f in obj._meta.concrete_fields]
    return {name: _jsonable(getattr(obj, name)) for name in names}


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose values differ, as (before, after)."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def person_name(user: Any) -> str:
    """How a user's name is written: Chinese family name first with no space (刘芳),
    Western names "First Last"; the user name when no name is set."""
    first = (getattr(user, "first_name", "") or "").strip()
    last = (getattr(user, "last_name", "") or "").strip()
    if not first and not last:
        return str(user.get_username())
    if any("\u4e00" <= ch <= "\u9fff" for ch in first + last):
        return f"{last}{first}"
    return f"{first} {last}".strip()


def actor_label(actor: Any) -> str:
    """How an actor is written on a record: a signed-in user's name, a system actor's string
    (``"gridcare seed"``, a job name), or "" for anything else."""
    if getattr(actor, "is_authenticated", False):
        return person_name(actor)
    if isinstance(actor, str):
        return actor
    return ""


def audit_record(
    *,
    actor: Any,
    obj: models.Model,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    """Append one audit row. Call it inside the service's transaction, after the write."""
    row = audit_row(actor=actor, obj=obj, action=action, before=before, after=after, reason=reason)
    row.save(force_insert=True)
    return row


def audit_row(
    *,
    actor: Any,
    obj: models.Model,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
) -> AuditEvent:
    """The audit row :func:`audit_record` appends, not yet saved (for a writer that stores it
    in the same statement as the change, such as the fast intake path)."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent(
        at=timezone.now(),
        actor=user,
        actor_label=actor_label(actor)[:150],
        object_type=obj._meta.label_lower,
        object_id=object_key(obj),
        object_repr=str(obj)[:200],
        action=action,
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        reason=reason[:500],
    )
