"""``gridcare billing …`` sub-commands: runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SUBCOMMANDS: dict[str, tuple[str, Callable[[Any], None], Callable[[Any, dict[str, Any]], None]]] = {}
