"""``gridcare bench workorders``: a short real run (granian or gunicorn, and the asyncio load
generator, against the test database) ends with the JSON line, loses nothing and refuses
SQLite. No timing is asserted: the figures depend on the machine."""

from __future__ import annotations

import io
import json
import re

import dj_database_url
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from gridcare.core.roles import HOTLINE_AGENT
from gridcare.workorders import bench
from gridcare.workorders.choices import EventType
from gridcare.workorders.models import Team, WorkOrder, WorkOrderEvent
from gridcare.workorders.tests.sla_fixtures import reload_reference_data

KEYS = {
    "bench",
    "created_per_s",
    "p50_ms",
    "p99_ms",
    "errors",
    "acknowledged",
    "stored",
    "transitions_per_s",
    "users",
    "seconds",
    "server",
    "database",
}


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_short_run_acknowledges_and_stores_every_order(server):
    # The server is another process: it sees only committed rows, so this test is
    # transactional, and an earlier transactional test's flush may have dropped the data
    # migrations' rows (role grants, categories, standards): put them back.
    reload_reference_data()
    out = io.StringIO()
    call_command("bench", "workorders", "--seconds", "5", "--users", "5", "--server", server, stdout=out)
    text = out.getvalue()
    result = json.loads(text.strip().splitlines()[-1])
    assert set(result) == KEYS
    assert result["bench"] == "workorders"
    assert result["database"] == "postgresql"
    assert (result["users"], result["seconds"], result["server"]) == (5, 5, server)
    assert result["errors"] == 0, text
    assert result["acknowledged"] > 0, text
    assert result["stored"] == result["acknowledged"], text
    assert "MISMATCH" not in text
    # The server's creates and steps went through the fast intake path (workers' own counts).
    fast = re.search(
        r"fast intake path \(workers' own counts\): (\d+) requests answered by it, (\d+) handed", text
    )
    assert fast is not None, text
    steps_line = re.search(r"transitions: (\d+) ", text)
    assert steps_line is not None, text
    assert (int(fast.group(1)), int(fast.group(2))) == (result["acknowledged"] + int(steps_line.group(1)), 0)
    # What the run left in the database: its orders (tagged), their steps, its agents and team.
    tagged = WorkOrder.objects.filter(external_ref__startswith=bench.ACCOUNT_PREFIX)
    assert tagged.count() == result["stored"]
    assert set(tagged.values_list("kind", flat=True)) <= set(bench.KINDS)
    assert tagged.filter(created_by__username__startswith=bench.USER_PREFIX).count() == result["stored"]
    steps = WorkOrderEvent.objects.filter(
        order__in=tagged, event_type__in=[EventType.TRANSITION, EventType.CONTACT]
    ).count()
    assert (steps > 0) == (result["transitions_per_s"] > 0)
    team = Team.objects.get(code=bench.TEAM)
    agents = team.members.filter(username__startswith=bench.USER_PREFIX, groups__name=HOTLINE_AGENT)
    assert agents.count() == 5


@pytest.mark.django_db
def test_refuses_sqlite_with_a_clear_message(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with pytest.raises(CommandError, match="needs PostgreSQL"):
        call_command("bench", "workorders", "--seconds", "1", "--users", "1", stdout=io.StringIO())


@pytest.mark.django_db
def test_bad_arguments_are_refused(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "postgresql")
    with pytest.raises(CommandError, match="at least 1"):
        call_command("bench", "workorders", "--seconds", "0", stdout=io.StringIO())
    with pytest.raises(CommandError, match="between 0 and 1"):
        call_command("bench", "workorders", "--transition-share", "2", stdout=io.StringIO())


@pytest.mark.postgresql
@pytest.mark.django_db
def test_database_url_names_the_current_database():
    parsed = dj_database_url.parse(bench.database_url())
    current = connection.settings_dict
    assert parsed["NAME"] == current["NAME"]
    assert parsed["USER"] == current["USER"]
    assert str(parsed["PORT"] or "") == str(current["PORT"] or "")
    assert parsed["HOST"] == (current["HOST"] or "localhost")
