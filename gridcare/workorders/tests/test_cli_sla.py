"""``gridcare sla tick`` and ``gridcare sla deadline``: one JSON line each; bad input is a
message on stderr and exit code 2."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gridcare.quality.models import ServiceStandard, SlaBreach
from gridcare.workorders.management.commands.sla import Command
from gridcare.workorders.tests.factories import BEIJING, accept

pytestmark = pytest.mark.django_db


def run(*args: str) -> dict:
    out = io.StringIO()
    call_command("sla", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_deadline_complaint_reply_over_national_day():
    found = run("deadline", "--kind", "complaint", "--stage", "reply", "--start", "2026-09-30T10:00")
    std = ServiceStandard.objects.get(code="CMP-REPLY")
    # naive start = Beijing; 10-08, 10-09, 10-10 (调休), 10-12
    assert found["deadline"] == "2026-10-12T23:59:59+08:00"
    assert found["basis"] == "working_days"
    assert found["amount"] == 4
    assert found["standard"] == std.pk
    assert found["code"] == "CMP-REPLY"


def test_deadline_report_and_channels():
    found = run("deadline", "--kind", "report", "--stage", "reply", "--start", "2026-09-30T10:00+08:00")
    assert found["deadline"] == "2026-10-19T23:59:59+08:00"
    assert found["amount"] == 9
    found = run(
        "deadline",
        "--kind",
        "complaint",
        "--stage",
        "reply",
        "--start",
        "2026-09-30T10:00",
        "--channel",
        "gov_12345",
    )
    assert found == {
        "deadline": "2026-10-07T10:00:00+08:00",
        "basis": "hours",
        "amount": 168,
        "standard": ServiceStandard.objects.get(code="CMP-REPLY-12345").pk,
        "code": "CMP-REPLY-12345",
        "warn_at": "2026-10-05T16:00:00+08:00",
    }
    found = run(
        "deadline",
        "--kind",
        "complaint",
        "--stage",
        "reply",
        "--start",
        "2026-09-30T10:00",
        "--channel",
        "regulator_12398",
    )
    assert found["deadline"] == "2026-10-20T23:59:59+08:00"


def test_deadline_grade_category_and_utc_start():
    found = run(
        "deadline",
        "--kind",
        "complaint",
        "--stage",
        "review",
        "--start",
        "2026-09-30T10:00",
        "--grade",
        "major",
    )
    assert found["deadline"] == "2026-09-30T10:15:00+08:00"
    assert found["amount"] == 0.25
    found = run(
        "deadline",
        "--kind",
        "service_request",
        "--stage",
        "reply",
        "--start",
        "2026-09-30T10:00",
        "--category",
        "sr_reading_error",
    )
    assert found["code"] == "SR-READING-REPLY"
    # 6 working days: 10-08, 10-09, 10-10, 10-12, 10-13, 10-14
    assert found["deadline"] == "2026-10-14T23:59:59+08:00"
    # 2026-09-29T17:00Z is 09-30 01:00 in Beijing: day 0 is 09-30
    found = run("deadline", "--kind", "complaint", "--stage", "reply", "--start", "2026-09-29T17:00:00Z")
    assert found["deadline"] == "2026-10-12T23:59:59+08:00"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--kind", "complain", "--stage", "reply", "--start", "2026-09-30T10:00"], "--kind"),
        (["--kind", "complaint", "--stage", "answer", "--start", "2026-09-30T10:00"], "--stage"),
        (["--kind", "complaint", "--stage", "reply", "--start", "tomorrow"], "--start"),
        (
            ["--kind", "complaint", "--stage", "reply", "--start", "2026-09-30T10:00", "--channel", "fax"],
            "--channel",
        ),
        (
            ["--kind", "complaint", "--stage", "reply", "--start", "2026-09-30T10:00", "--grade", "huge"],
            "--grade",
        ),
        (
            ["--kind", "complaint", "--stage", "reply", "--start", "2026-09-30T10:00", "--category", "nope"],
            "--category",
        ),
        # no standard covers a complaint's onsite stage
        (["--kind", "complaint", "--stage", "onsite", "--start", "2026-09-30T10:00"], "--stage"),
    ],
)
def test_deadline_bad_input_exit_code_2(args, named):
    with pytest.raises(CommandError) as exc:
        call_command("sla", "deadline", *args, stdout=io.StringIO())
    assert exc.value.returncode == 2
    assert str(exc.value).startswith(named)


def test_deadline_bad_input_from_the_command_line_goes_to_stderr(capsys):
    with pytest.raises(SystemExit) as exc:
        Command().run_from_argv(
            [
                "gridcare",
                "sla",
                "deadline",
                "--kind",
                "complaint",
                "--stage",
                "reply",
                "--start",
                "30/09/2026",
            ]
        )
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "--start: not an ISO date-time" in captured.err


def test_tick_prints_counts_and_breaches(make_user):
    agent = make_user(roles=["hotline_agent"])
    order = accept(actor=agent, at=dt.datetime(2026, 9, 30, 10, 0, tzinfo=BEIJING))
    assert run("tick", "--now", "2026-10-01T03:59:59") == {"warned": 0, "breached": 0, "escalated": 0}
    # contact (24 h) warns at 18 h = 10-01 04:00 Beijing
    assert run("tick", "--now", "2026-10-01T04:00") == {"warned": 1, "breached": 0, "escalated": 0}
    counts = run("tick", "--now", "2026-10-01T02:00:00Z")  # 10:00 Beijing: contact due
    assert counts["breached"] == 1
    assert SlaBreach.objects.get().order == order
    with pytest.raises(CommandError) as exc:
        call_command("sla", "tick", "--now", "soon", stdout=io.StringIO())
    assert exc.value.returncode == 2
