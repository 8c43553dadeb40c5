"""``gridcare billing …`` sub-commands: quote.

``gridcare billing quote --json FILE|-`` rates one made-up period (电费试算) with the
catalogue in force and prints the lines and total as JSON (docs/billing-tariffs.md).
Bad input: a message naming the field on stderr and exit status 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError

from gridcare.billing.services.quote import bill_quote
from gridcare.core.errors import GridCareError


def _quote_arguments(parser: Any) -> None:
    parser.add_argument(
        "--json",
        dest="json_file",
        required=True,
        metavar="FILE",
        help='The quote as JSON ({"tariff", "period_start", "period_end", "registers", …}); "-" reads stdin.',
    )


def _quote_handle(command: Any, options: dict[str, Any]) -> None:
    name = options["json_file"]
    try:
        if name == "-":
            text = sys.stdin.read()
        else:
            with open(name, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        raise CommandError(f"--json: cannot read {name}: {exc.strerror}") from exc
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"--json: not valid JSON ({exc})") from exc
    try:
        result = bill_quote(payload=payload)
    except GridCareError as exc:
        field = f"{exc.field}: " if exc.field else ""
        raise CommandError(f"{field}{exc.message}") from exc
    command.stdout.write(json.dumps(result, ensure_ascii=False, indent=2))


SUBCOMMANDS: dict[str, tuple[str, Callable[[Any], None], Callable[[Any, dict[str, Any]], None]]] = {
    "quote": (
        "Quote (电费试算): rate one period from JSON and print the lines.",
        _quote_arguments,
        _quote_handle,
    ),
}
