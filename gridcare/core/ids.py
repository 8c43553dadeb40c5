"""Business numbers from named sequences (户号, 合同编号, …)."""

from __future__ import annotations

from django.db import transaction

from gridcare.core.models import NumberSequence


def next_number(name: str, *, start: int = 1, count: int = 1) -> int:
    """Reserve ``count`` consecutive numbers from sequence ``name``; return the first.

    Runs in its own atomic block under a row lock, so concurrent callers never collide.
    """
    if count < 1:
        raise ValueError("count must be >= 1")
    with transaction.atomic():
        seq, _ = NumberSequence.objects.select_for_update().get_or_create(
            name=name, defaults={"next_value": start}
        )
        first = seq.next_value
        seq.next_value = first + count
        seq.save(update_fields=["next_value"])
    return first


def ensure_sequence_at_least(name: str, value: int) -> None:
    """Move sequence ``name`` forward so that it never hands out a number below ``value``."""
    with transaction.atomic():
        seq, _ = NumberSequence.objects.select_for_update().get_or_create(
            name=name, defaults={"next_value": value}
        )
        if seq.next_value < value:
            seq.next_value = value
            seq.save(update_fields=["next_value"])
