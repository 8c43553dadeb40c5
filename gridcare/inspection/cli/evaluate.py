"""``gridcare theft evaluate``: honest evaluation of the theft risk model (窃电模型评估).

``gridcare theft evaluate --data FILE --seed S`` reads the labelled long frame of
``gridcare theft benchmark-data`` (Parquet or CSV), trains on a stratified 80 % of the
customers and reports on the held-out 20 %: the LightGBM model, the three baselines on the
same split, the generalisation split (train h1–h3, test h4 and drop) and the timing
(``gridcare.inspection.engine.evaluate``). It prints a table and, last, one JSON line.
See docs/inspection.md, "Evaluation".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from django.core.management.base import CommandError

from gridcare.inspection.engine.evaluate import evaluate_benchmark

IN_FORMATS = (".parquet", ".csv")
NEEDED = ("customer_id", "date", "kwh", "label", "attack")


def _evaluate_arguments(parser: Any) -> None:
    parser.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help="Labelled benchmark frame written by benchmark-data (.parquet or .csv).",
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the split and the models (default 0).")


def _read(path: Path) -> pl.DataFrame:
    if path.suffix.lower() not in IN_FORMATS:
        raise CommandError(f"--data: {path.name} must end in .parquet or .csv")
    if not path.is_file():
        raise CommandError(f"--data: {path} does not exist")
    if path.suffix.lower() == ".parquet":
        frame = pl.read_parquet(path)
    else:
        frame = pl.read_csv(path, try_parse_dates=True)
    missing = [c for c in NEEDED if c not in frame.columns]
    if missing:
        raise CommandError(f"--data: {path.name} lacks the columns {', '.join(missing)}")
    return frame.with_columns(pl.col("date").cast(pl.Date), pl.col("kwh").cast(pl.Float64))


def _row(name: str, metrics: dict[str, float]) -> str:
    cells = [metrics[key] for key in ("auc", "map100", "map200", "precision", "recall", "f1")]
    return f"{name:<22}" + "".join(f"{value:>10.3f}" for value in cells)


def _evaluate_handle(command: Any, options: dict[str, Any]) -> None:
    frame = _read(Path(options["data"]))
    result = evaluate_benchmark(frame, seed=options["seed"])
    out = command.stdout
    out.write(
        f"customers: train {result['train_customers']}, test {result['test_customers']} "
        f"({result['test_thieves']} thieves), seed {result['seed']}"
    )
    out.write(
        f"{'':<22}" + "".join(f"{h:>10}" for h in ("AUC", "MAP@100", "MAP@200", "precision", "recall", "F1"))
    )
    out.write(_row("LightGBM features", result))
    for name, metrics in result["baselines"].items():
        out.write(_row(name, metrics))
    general = result["generalisation"]
    out.write(
        _row("generalisation", general) + f"   (train honest+h1–h3 {general['train_customers']}, "
        f"test honest+h4+drop {general['test_customers']}, {general['test_thieves']} thieves)"
    )
    out.write(f"threshold {result['threshold']:.3f} (F1-best on out-of-fold training scores)")
    out.write(
        f"training {result['train_seconds']:.1f} s; scoring {result['score_seconds_per_50k']:.1f} s "
        "per 50,000 customers (features + prediction)"
    )
    line = {
        "auc": result["auc"],
        "map100": result["map100"],
        "map200": result["map200"],
        "precision": result["precision"],
        "recall": result["recall"],
        "f1": result["f1"],
        "baselines": result["baselines"],
        "generalisation": {k: general[k] for k in ("auc", "map100", "map200", "precision", "recall", "f1")},
        "train_seconds": result["train_seconds"],
        "score_seconds_per_50k": result["score_seconds_per_50k"],
        "seed": result["seed"],
    }
    out.write(json.dumps(_rounded(line)))


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return value


SUBCOMMANDS: dict[str, tuple[str, Callable[[Any], None], Callable[[Any, dict[str, Any]], None]]] = {
    "evaluate": (
        "Evaluate the theft risk model (窃电模型评估) on a labelled benchmark: held-out metrics, "
        "baselines, generalisation split, timing.",
        _evaluate_arguments,
        _evaluate_handle,
    ),
}
