"""gridcare theft sub-commands: score (added by the area)."""

from __future__ import annotations

from typing import Any

SUBCOMMANDS: dict[str, Any] = {}
