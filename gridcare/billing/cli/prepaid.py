"""``gridcare billing prepaid …`` sub-commands (docs/billing-prepaid.md):

- ``prepaid charge [--day YYYY-MM-DD]``: the daily charge (default yesterday);
- ``prepaid check``: balance thresholds → notices and remote orders;
- ``prepaid send``: send the pending remote orders through the head-end adapter.

Each prints one JSON summary line."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from gridcare.core.errors import GridCareError

ACTOR = "cli:prepaid"


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--day: not a date (YYYY-MM-DD): {text!r}") from None


def add_arguments(parser: Any) -> None:
    sub = parser.add_subparsers(dest="prepaid_action", metavar="STEP", required=True)
    charge = sub.add_parser(
        "charge",
        help="Charge prepaid accounts for the energy used on one day (from its and the next day's readings).",
    )
    charge.add_argument("--day", default=None, help="The day (YYYY-MM-DD); default yesterday.")
    sub.add_parser("check", help="Check balances: reminders and remote disconnect/reconnect orders.")
    sub.add_parser("send", help="Send the pending remote orders to the AMI head-end adapter.")


def handle(command: Any, options: dict[str, Any]) -> None:
    from gridcare.billing.services.prepaid import (
        prepaid_check_balances,
        prepaid_daily_charges,
        remote_orders_dispatch,
    )

    step = options["prepaid_action"]
    try:
        if step == "charge":
            day = _day(options["day"]) if options.get("day") else timezone.localdate() - dt.timedelta(days=1)
            summary = prepaid_daily_charges(day=day, actor=ACTOR)
        elif step == "check":
            summary = prepaid_check_balances(now=timezone.now(), actor=ACTOR)
        else:
            summary = remote_orders_dispatch(actor=ACTOR)
    except GridCareError as exc:
        raise CommandError(f"{exc.field or step}: {exc.message}") from exc
    command.stdout.write(json.dumps(summary, ensure_ascii=False, default=str))


SUBCOMMANDS: dict[str, tuple[str, Callable[[Any], None], Callable[[Any, dict[str, Any]], None]]] = {
    "prepaid": ("Prepaid (费控): daily charge, balance check, remote orders.", add_arguments, handle),
}
