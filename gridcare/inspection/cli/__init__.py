"""Sub-commands of ``gridcare theft``, gathered from the area modules.

Each module exposes ``SUBCOMMANDS``: name → (help, add_arguments(parser),
handle(command, options)). Later areas (``evaluate``, ``score``) add a module here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Subcommand = tuple[str, Callable[[Any], None], Callable[[Any, dict[str, Any]], None]]


def all_subcommands() -> dict[str, Subcommand]:
    from gridcare.inspection.cli import benchmark, evaluate, lineloss, score

    merged: dict[str, Subcommand] = {}
    for module in (benchmark, evaluate, score, lineloss):
        merged.update(module.SUBCOMMANDS)
    return merged
