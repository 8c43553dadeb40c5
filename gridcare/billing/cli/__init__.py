"""Sub-commands of ``gridcare billing``, gathered from the area modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Subcommand = tuple[str, Callable[[Any], None], Callable[[Any, dict[str, Any]], None]]


def all_subcommands() -> dict[str, Subcommand]:
    from gridcare.billing.cli import payments, prepaid, quote, runs

    merged: dict[str, Subcommand] = {}
    for module in (quote, runs, payments, prepaid):
        merged.update(module.SUBCOMMANDS)
    return merged
