"""``gridcare theft benchmark-data`` on a tiny source folder laid out like the London data."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import polars as pl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gridcare.inspection.engine.london import load_london_daily
from gridcare.inspection.tests.conftest import synthetic_daily


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """``daily.parquet`` with the real file's columns and types; one household whose only
    day has no reading (null kwh, n_halfhours 0), as five in the real data."""
    daily = synthetic_daily(customers=20, days=90)
    daily = pl.concat(
        [daily, pl.DataFrame({"customer_id": ["MAC999999"], "date": [daily["date"][0]], "kwh": [None]})],
        how="vertical_relaxed",
    ).with_columns(
        n_halfhours=pl.when(pl.col("kwh").is_null()).then(0).otherwise(48).cast(pl.Int16),
        tariff=pl.lit("Std"),
        acorn=pl.lit("ACORN-A"),
        acorn_grouped=pl.lit("Affluent"),
        block=pl.lit("block_0"),
    )
    folder = tmp_path / "london"
    folder.mkdir()
    daily.write_parquet(folder / "daily.parquet", compression="zstd")
    return folder


def _run(*args: str) -> list[str]:
    stdout = StringIO()
    call_command("theft", "benchmark-data", *args, stdout=stdout)
    return stdout.getvalue().splitlines()


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_benchmark_data_writes_the_frame_and_a_summary(source: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"bench{suffix}"

    lines = _run("--source", str(source), "--out", str(out), "--theft-share", "0.25", "--seed", "4")

    assert lines[:3] == [
        "customers 20, days 90 (2013-01-01 … 2013-03-31)",
        "thieves 5: h1 1, h2 1, h3 1, h4 1, drop 1",
        f"rows written 1800 to {out}",
    ]
    summary = json.loads(lines[-1])
    assert summary == {
        "customers": 20,
        "days": 90,
        "first_date": "2013-01-01",
        "last_date": "2013-03-31",
        "thieves": 5,
        "thieves_by_attack": {"h1": 1, "h2": 1, "h3": 1, "h4": 1, "drop": 1},
        "rows": 1800,
        "out": str(out),
        "theft_share": 0.25,
        "seed": 4,
    }
    frame = pl.read_parquet(out) if suffix == ".parquet" else pl.read_csv(out, try_parse_dates=True)
    assert frame.columns == ["customer_id", "date", "kwh", "label", "attack", "attack_start"]
    assert frame.height == 1800
    assert frame.filter(pl.col("label") == 1)["customer_id"].n_unique() == 5


def test_loader_drops_days_without_a_reading(source: Path) -> None:
    daily = load_london_daily(source)
    assert daily.columns == ["customer_id", "date", "kwh"]
    assert daily.height == 1800
    assert "MAC999999" not in daily["customer_id"]


def test_bad_out_suffix_is_refused_before_reading(source: Path, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"--out: bench\.json must end in \.parquet or \.csv"):
        _run("--source", str(source), "--out", str(tmp_path / "bench.json"))


def test_missing_source_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "bench.parquet"
    with pytest.raises(CommandError, match="--source: .*daily.parquet not found"):
        _run("--source", str(tmp_path / "nowhere"), "--out", str(out))
    assert not out.exists()


def test_share_outside_zero_one_is_refused(source: Path, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--theft-share: 1.2 is not within"):
        _run("--source", str(source), "--out", str(tmp_path / "b.csv"), "--theft-share", "1.2")
