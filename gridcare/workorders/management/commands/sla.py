"""``gridcare sla``: the SLA clock (服务时限) from the command line.

gridcare sla tick [--now 2026-10-13T09:00+08:00]
    warn the clocks past 75 % of their time, breach and escalate those past their deadline;
    prints {"warned": N, "breached": N, "escalated": N} (the background worker runs this
    every minute, see docs/workorders-sla.md).

gridcare sla deadline --kind complaint --stage reply --start 2026-09-30T10:00 [--channel C]
                      [--grade G] [--category CODE]
    the deadline the service standards give, as one JSON line
    {"deadline": …, "basis": "working_days"|"hours", "amount": N, "standard": ID, …}.
    A start without a zone is Beijing time. Bad input: a message on stderr, exit code 2.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridcare.core.engine.workdays import BEIJING
from gridcare.core.errors import ValidationFailed

BAD_INPUT = 2


def _when(text: str, option: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(
            f"{option}: not an ISO date-time (e.g. 2026-09-30T10:00 or 2026-09-30T10:00+08:00): {text!r}",
            returncode=BAD_INPUT,
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=BEIJING)
    return value


class Command(BaseCommand):
    help = "SLA clocks: run the warning/breach tick, or answer 'when is this due'."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True, title="actions")
        tick = sub.add_parser(
            "tick",
            help="warn and breach the clocks that are due; prints the counts as one JSON line",
        )
        tick.add_argument("--now", default=None, help="Pretend it is this ISO date-time (default: now).")
        deadline = sub.add_parser(
            "deadline", help="the deadline the service standards give, as one JSON line"
        )
        deadline.add_argument("--kind", required=True, help="complaint, report, opinion, suggestion, …")
        deadline.add_argument(
            "--stage", required=True, help="review, contact, onsite, restore, reply, follow_up"
        )
        deadline.add_argument(
            "--start", required=True, help="When the clock starts (ISO date-time; no zone = Beijing time)."
        )
        deadline.add_argument("--channel", default="", help="hotline, counter, gov_12345, regulator_12398, …")
        deadline.add_argument("--grade", default="", help="normal, serious or major")
        deadline.add_argument("--category", default="", help="A category code (e.g. sr_reconnect).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "tick":
            self._tick(options)
        else:
            self._deadline(options)

    def _tick(self, options: dict[str, Any]) -> None:
        from gridcare.workorders.services.clocks import sla_tick

        now = _when(options["now"], "--now") if options["now"] else None
        result = sla_tick(now=now)
        self.stdout.write(json.dumps(result.as_dict()))

    def _deadline(self, options: dict[str, Any]) -> None:
        from gridcare.workorders.services.clocks import sla_deadline

        start = _when(options["start"], "--start")
        try:
            found = sla_deadline(
                kind=options["kind"].strip(),
                stage=options["stage"].strip(),
                start=start,
                channel=options["channel"].strip(),
                grade=options["grade"].strip(),
                category=options["category"].strip(),
            )
        except ValidationFailed as exc:
            raise CommandError(f"--{exc.field or 'input'}: {exc.message}", returncode=BAD_INPUT) from None
        self.stdout.write(json.dumps(found, ensure_ascii=False))
