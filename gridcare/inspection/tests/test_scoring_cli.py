"""``gridcare theft train|score|model|run`` on temporary files and the test database."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gridcare.inspection.cli.score import output_columns
from gridcare.inspection.engine.model import load_model
from gridcare.inspection.models import ModelArtefact, ScoringRun
from gridcare.inspection.services import scoring
from gridcare.inspection.tests.factories import metered_account
from gridcare.inspection.tests.scoring_support import (
    START,
    few_trees,
    honest_series,
    long_frame,
    population,
    small_benchmark,
)


def _theft(*args: str) -> list[str]:
    stdout = StringIO()
    with few_trees():
        call_command("theft", *args, stdout=stdout)
    return stdout.getvalue().splitlines()


@pytest.fixture(scope="module")
def bench_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "bench.parquet"
    small_benchmark().write_parquet(path)
    return path


@pytest.fixture(scope="module")
def trained(bench_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("models")
    lines = _theft("train", "--data", str(bench_file), "--out", str(out), "--seed", "0")
    return json.loads(lines[-1])


@pytest.fixture
def county_file(tmp_path: Path) -> Path:
    series = population(40, 240)
    series["C017"][150:] *= 0.05
    path = tmp_path / "county.csv"
    long_frame(series).write_csv(path)
    return path


@pytest.fixture
def data_dir(settings: Any, tmp_path: Path) -> Iterator[Path]:
    settings.DATA_DIR = tmp_path / "data"
    scoring.model_cache_clear()
    yield settings.DATA_DIR
    scoring.model_cache_clear()


def test_train_writes_a_verified_artefact(trained: dict[str, Any]) -> None:
    folder = Path(trained["path"])

    model = load_model(folder)

    assert folder.name == trained["version"] == model.version
    assert trained["sha256"] == model.sha256
    assert trained["train_customers"] == 200
    assert trained["registered"] is False
    assert trained["metrics"] == {}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_score_writes_one_row_per_customer(
    trained: dict[str, Any], county_file: Path, tmp_path: Path, suffix: str
) -> None:
    output = tmp_path / f"scores{suffix}"

    lines = _theft("score", "--input", str(county_file), "--output", str(output), "--model", trained["path"])

    table = pl.read_csv(output, try_parse_dates=True) if suffix == ".csv" else pl.read_parquet(output)
    assert table.columns == output_columns()
    assert table.columns[:4] == ["customer_id", "score", "rank", "flagged"]
    assert table.height == 40
    assert sorted(table["rank"].to_list()) == list(range(1, 41))
    first = table.sort("rank").row(0, named=True)
    assert first["customer_id"] == "C017"
    assert first["flagged"] is True
    assert first["reason_1_feature"]
    assert first["window_end"] == START + dt.timedelta(days=239)
    summary = json.loads(lines[-1])
    assert summary["model"] == trained["version"]
    assert summary["scored"] == 40
    assert summary["skipped"] == 0
    assert summary["flagged"] == int(table["flagged"].sum())


def test_score_uses_peer_groups_from_a_column(trained: dict[str, Any], tmp_path: Path) -> None:
    frame = long_frame(population(30, 120)).with_columns(
        klass=pl.when(pl.col("customer_id") < "C025").then(pl.lit("res")).otherwise(pl.lit("shop"))
    )
    source = tmp_path / "grouped.parquet"
    frame.write_parquet(source)
    output = tmp_path / "out.parquet"

    _theft(
        "score",
        "--input",
        str(source),
        "--output",
        str(output),
        "--model",
        trained["path"],
        "--group-column",
        "klass",
    )

    assert pl.read_parquet(output).height == 30


def test_score_and_train_report_bad_input(trained: dict[str, Any], tmp_path: Path, bench_file: Path) -> None:
    no_kwh = tmp_path / "no_kwh.csv"
    pl.DataFrame({"customer_id": ["A"], "date": ["2025-01-01"]}).write_csv(no_kwh)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not a parquet file")
    out = str(tmp_path / "out.csv")

    with pytest.raises(CommandError, match="lacks the columns kwh"):
        _theft("score", "--input", str(no_kwh), "--output", out, "--model", trained["path"])
    with pytest.raises(CommandError, match="cannot read garbage.parquet"):
        _theft("score", "--input", str(garbage), "--output", out, "--model", trained["path"])
    with pytest.raises(CommandError, match="does not exist"):
        _theft("score", "--input", str(tmp_path / "nothing.csv"), "--output", out, "--model", trained["path"])
    with pytest.raises(CommandError, match=r"--output: scores.xlsx must end in \.parquet or \.csv"):
        _theft("score", "--input", str(no_kwh), "--output", str(tmp_path / "scores.xlsx"))
    with pytest.raises(CommandError, match="--model: .*no model directory"):
        _theft("score", "--input", str(bench_file), "--output", out, "--model", str(tmp_path / "none"))
    with pytest.raises(CommandError, match="lacks the columns kwh, label"):
        _theft("train", "--data", str(no_kwh), "--out", str(tmp_path))
    with pytest.raises(CommandError, match=r"--holdout: 1\.5 is not within"):
        _theft("train", "--data", str(bench_file), "--out", str(tmp_path), "--holdout", "1.5")


@pytest.mark.django_db
@pytest.mark.usefixtures("data_dir")
def test_score_without_a_model_needs_an_active_one(county_file: Path, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no active theft model"):
        _theft("score", "--input", str(county_file), "--output", str(tmp_path / "out.csv"))
    with pytest.raises(CommandError, match="No active theft model"):
        _theft("run", "--end", "2026-07-28", "--days", "150")


@pytest.mark.django_db
def test_register_list_activate_score_and_run(
    bench_file: Path, county_file: Path, tmp_path: Path, data_dir: Path
) -> None:
    first = json.loads(
        _theft("train", "--data", str(bench_file), "--out", str(tmp_path / "a"), "--register")[-1]
    )
    second = json.loads(
        _theft(
            "train",
            "--data",
            str(bench_file),
            "--out",
            str(tmp_path / "b"),
            "--holdout",
            "0.25",
            "--register",
        )[-1]
    )
    assert first["registered"]
    assert second["registered"]
    assert (data_dir / "models" / "theft" / first["version"] / "model.txt").is_file()
    assert ModelArtefact.objects.get(is_active=True).version == second["version"]

    listed = _theft("model", "list")
    assert listed[0].startswith(f"* {second['version']}")
    assert listed[1].startswith(f"  {first['version']}")
    assert {row["version"]: row["active"] for row in json.loads(listed[-1])} == {
        first["version"]: False,
        second["version"]: True,
    }

    assert json.loads(_theft("model", "activate", first["version"])[-1]) == {"active": first["version"]}
    assert ModelArtefact.objects.get(is_active=True).version == first["version"]
    with pytest.raises(CommandError, match="give the VERSION"):
        _theft("model", "activate")
    with pytest.raises(CommandError, match="No theft model theft-nope"):
        _theft("model", "activate", "theft-nope")

    output = tmp_path / "scores.csv"
    summary = json.loads(_theft("score", "--input", str(county_file), "--output", str(output))[-1])
    assert summary["model"] == first["version"]

    start = dt.date(2026, 3, 1)
    for i in range(3):
        metered_account(daily_kwh=honest_series(100, seed=i).round(3).tolist(), start=start)
    lines = _theft("run", "--end", "2026-06-08", "--days", "100")
    result = json.loads(lines[-1])
    assert result["status"] == "done"
    assert result["accounts_scored"] == 3
    assert (result["window_start"], result["window_end"]) == ("2026-03-01", "2026-06-08")
    assert ScoringRun.objects.get().triggered_by == "gridcare theft run"
    with pytest.raises(CommandError, match="is not a date"):
        _theft("run", "--end", "yesterday")
