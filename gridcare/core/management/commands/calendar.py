"""``gridcare calendar``: show the working-day calendar and maintain its override table.

gridcare calendar show 2027-01            # every day of a month, with the deciding layer
gridcare calendar set 2027-02-06 --holiday --name 春节 --source "国办发明电〔2026〕X号"
gridcare calendar set 2027-02-20 --workday --name 春节调休上班
gridcare calendar add 2026-09-30 5        # the 5th working day after a date
gridcare calendar between 2026-09-30 2026-10-12
"""

from __future__ import annotations

import calendar as stdlib_calendar
import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridcare.core.services import calendar_day_set
from gridcare.core.workdays import calendar_gaps, working_calendar


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"not a date (YYYY-MM-DD): {text}") from exc


class Command(BaseCommand):
    help = "Show the working-day calendar and maintain its override table (调休/放假安排)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        show = sub.add_parser("show", help="show a month: YYYY-MM")
        show.add_argument("month")
        setp = sub.add_parser("set", help="override one day")
        setp.add_argument("date")
        kind = setp.add_mutually_exclusive_group(required=True)
        kind.add_argument("--workday", action="store_true")
        kind.add_argument("--holiday", action="store_true")
        setp.add_argument("--name", default="")
        setp.add_argument("--source", default="")
        add = sub.add_parser("add", help="the N-th working day after DATE")
        add.add_argument("date")
        add.add_argument("n", type=int)
        between = sub.add_parser("between", help="working days in (START, END]")
        between.add_argument("start")
        between.add_argument("end")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        cal = working_calendar()
        for year in calendar_gaps():
            self.stderr.write(
                self.style.WARNING(
                    f"warning: the holidays of {year} are not known yet (not in the chinesecalendar package, "
                    "no override entered): Monday to Friday count as working days. "
                    "Enter the year's arrangement: gridcare calendar set … (docs/calendar.md)"
                )
            )
        if action == "show":
            try:
                year, month = (int(p) for p in options["month"].split("-"))
                days = stdlib_calendar.monthrange(year, month)[1]
            except (ValueError, stdlib_calendar.IllegalMonthError) as exc:
                raise CommandError("month must be YYYY-MM") from exc
            for d in range(1, days + 1):
                day = dt.date(year, month, d)
                mark = "workday" if cal.is_workday(day) else "off"
                self.stdout.write(f"{day} {day:%a} {mark:8s} ({cal.source(day)})")
        elif action == "set":
            day = _date(options["date"])
            calendar_day_set(
                actor="gridcare calendar",
                date=day,
                is_workday=options["workday"],
                name=options["name"],
                source=options["source"],
            )
            self.stdout.write(
                self.style.SUCCESS(
                    f"{day}: {'working day' if options['workday'] else 'day off'} (override saved)"
                )
            )
        elif action == "add":
            if options["n"] < 0:
                raise CommandError("n must be >= 0")
            self.stdout.write(str(cal.add_working_days(_date(options["date"]), options["n"])))
        elif action == "between":
            self.stdout.write(str(cal.count_working_days(_date(options["start"]), _date(options["end"]))))
