"""``gridcare bench readings``: generates a file for bench meters, imports it with VEE,
compares with a raw COPY on PostgreSQL (median of three loads) and removes what it stored."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.db import connection

from gridcare.metering.models import Reading, ReadingImport

pytestmark = pytest.mark.django_db


def test_bench_readings_imports_compares_and_cleans_up():
    out = io.StringIO()
    call_command("bench", "readings", "--rows", "2000", stdout=out)
    text = out.getvalue()
    result = json.loads(text.strip().splitlines()[-1])

    assert result["bench"] == "readings"
    assert result["rows"] == 2000
    assert result["reads_per_s"] > 0
    assert "2,000 stored, 0 already stored, 0 rejected" in text
    assert "CPU during the import: this process" in text
    assert result["process_cpu_s"] > 0
    if connection.vendor == "postgresql":
        assert result["copy_reads_per_s"] > 0
        assert result["keyed_copy_reads_per_s"] > 0
        assert result["ratio"] == pytest.approx(result["reads_per_s"] / result["copy_reads_per_s"], abs=0.002)
        assert "(median of " in text
        assert result["db_cpu_s"] > 0  # the test server runs on this machine
    else:
        assert result["copy_reads_per_s"] is None
        assert result["ratio"] is None
        assert result["db_cpu_s"] is None
    # without --keep the bench leaves no readings or import job behind
    assert not Reading.objects.exists()
    assert not ReadingImport.objects.exists()
