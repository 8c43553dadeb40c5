"""``gridcare theft train|score|model|run``: theft risk scoring (窃电风险评分) in production.

- ``gridcare theft train --data FILE --out DIR [--seed S] [--holdout SHARE] [--register]``
  trains the model on a labelled frame (``benchmark-data``'s layout) and writes the
  versioned artefact directory under DIR; ``--register`` records it as the app's active
  model (copied to ``DATA_DIR/models/theft`` when DIR is elsewhere).
- ``gridcare theft score --input FILE --output FILE [--model DIR] [--group-column COL]
  [--explain-all]`` scores a long daily table (customer_id, date, kwh; Parquet or CSV)
  and writes one row per customer (Parquet or CSV by the output's suffix); without
  ``--model`` the app's active model is used.
- ``gridcare theft model list`` / ``gridcare theft model activate VERSION``.
- ``gridcare theft run [--end DATE] [--days 365]``: one scoring run of the app's accounts now.

Each prints a short summary and, last, one JSON line. See docs/inspection-scoring.md.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from django.core.management.base import CommandError
from django.utils import timezone

from gridcare.core.errors import GridCareError
from gridcare.inspection.engine.explain import EXPLAIN_TOP, REASONS, score_customers
from gridcare.inspection.engine.model import (
    ArtefactError,
    TheftModel,
    load_model,
    save_model,
    train_theft_model,
)

FORMATS = (".parquet", ".csv")
ACTOR_TRAIN = "gridcare theft train"
ACTOR_MODEL = "gridcare theft model"
ACTOR_RUN = "gridcare theft run"


def output_columns() -> list[str]:
    """The columns ``score`` writes, in order."""
    reasons = [
        f"reason_{i}_{part}" for i in range(1, REASONS + 1) for part in ("feature", "value", "peer_median")
    ]
    return ["customer_id", "score", "rank", "flagged", *reasons, "window_start", "window_end"]


def _read(path: Path, option: str, needed: tuple[str, ...]) -> pl.DataFrame:
    if path.suffix.lower() not in FORMATS:
        raise CommandError(f"{option}: {path.name} must end in .parquet or .csv")
    if not path.is_file():
        raise CommandError(f"{option}: {path} does not exist")
    try:
        if path.suffix.lower() == ".parquet":
            frame = pl.read_parquet(path)
        else:
            frame = pl.read_csv(path, try_parse_dates=True, infer_schema_length=10_000)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise CommandError(f"{option}: cannot read {path.name} ({exc.__class__.__name__}: {exc})") from exc
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise CommandError(f"{option}: {path.name} lacks the columns {', '.join(missing)}")
    try:
        return frame.with_columns(
            pl.col("customer_id").cast(pl.String),
            pl.col("date").cast(pl.Date),
            pl.col("kwh").cast(pl.Float64),
        )
    except pl.exceptions.PolarsError as exc:
        raise CommandError(
            f"{option}: {path.name}: date must be a date (YYYY-MM-DD) and kwh a number ({exc})"
        ) from exc


# --- train -------------------------------------------------------------------------------


def _train_arguments(parser: Any) -> None:
    parser.add_argument(
        "--data", required=True, metavar="FILE", help="Labelled frame from benchmark-data (.parquet or .csv)."
    )
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="Folder to write the artefact directory into."
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the folds and the model (default 0).")
    parser.add_argument(
        "--holdout",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="Share of customers kept out of training and measured (default 0: train on all).",
    )
    parser.add_argument(
        "--register", action="store_true", help="Record the artefact as the app's active model."
    )


def _train_handle(command: Any, options: dict[str, Any]) -> None:
    data = Path(options["data"])
    frame = _read(data, "--data", ("customer_id", "date", "kwh", "label"))
    holdout = options["holdout"]
    if not 0.0 <= holdout < 1.0:
        raise CommandError(f"--holdout: {holdout} is not within [0, 1)")
    started = time.perf_counter()
    try:
        model = train_theft_model(frame, seed=options["seed"], holdout=holdout, data=str(data))
        folder = save_model(model, Path(options["out"]))
    except (ValueError, OSError) as exc:
        raise CommandError(str(exc)) from exc
    seconds = time.perf_counter() - started
    registered = None
    if options["register"]:
        from gridcare.inspection.services.scoring import model_register

        try:
            registered = model_register(actor=ACTOR_TRAIN, path=folder, activate=True)
        except GridCareError as exc:
            raise CommandError(str(exc.message)) from exc
    info = model.meta["data"]
    out = command.stdout
    out.write(f"model {model.version} written to {folder}")
    out.write(
        f"trained on {info['train_customers']} of {info['customers']} customers "
        f"({info['thieves']} thieves in all; {info['skipped_short']} with too few readings left out) "
        f"in {seconds:.1f} s; "
        f"threshold {model.threshold:.3f}"
    )
    if model.meta["metrics"]:
        m = model.meta["metrics"]
        out.write(
            f"held-out {m['test_customers']} customers: AUC {m['auc']:.3f}, MAP@100 {m['map100']:.3f}, "
            f"precision {m['precision']:.3f}, recall {m['recall']:.3f}, F1 {m['f1']:.3f}"
        )
    if registered is not None:
        out.write(f"registered and active: {registered.path} under the data directory")
    out.write(
        json.dumps(
            {
                "version": model.version,
                "path": str(folder),
                "sha256": model.sha256,
                "threshold": round(model.threshold, 4),
                "train_customers": info["train_customers"],
                "metrics": model.meta["metrics"],
                "seconds": round(seconds, 2),
                "registered": registered is not None,
            }
        )
    )


# --- score -------------------------------------------------------------------------------


def _score_arguments(parser: Any) -> None:
    parser.add_argument(
        "--input", required=True, metavar="FILE", help="Daily kWh: customer_id, date, kwh (.parquet or .csv)."
    )
    parser.add_argument(
        "--output", required=True, metavar="FILE", help="Where to write the scores (.parquet or .csv)."
    )
    parser.add_argument(
        "--model", metavar="DIR", help="Artefact directory (default: the app's active model)."
    )
    parser.add_argument(
        "--group-column",
        metavar="COL",
        help="Column of the input naming each customer's peer group (e.g. the customer class).",
    )
    parser.add_argument(
        "--explain-all",
        action="store_true",
        help="Reasons for every customer (default: the flagged ones and the top 5000).",
    )


def _model_for(option: str | None) -> TheftModel:
    if option:
        try:
            return load_model(Path(option))
        except ArtefactError as exc:
            raise CommandError(f"--model: {exc}") from exc
    from gridcare.inspection.services.scoring import model_active, model_load

    artefact = model_active()
    if artefact is None:
        raise CommandError(
            "no active theft model in the app: pass --model DIR or register one with "
            "`gridcare theft train --data FILE --out DIR --register`"
        )
    try:
        return model_load(artefact)
    except GridCareError as exc:
        raise CommandError(str(exc.message)) from exc


def _score_handle(command: Any, options: dict[str, Any]) -> None:
    output = Path(options["output"])
    if output.suffix.lower() not in FORMATS:
        raise CommandError(f"--output: {output.name} must end in .parquet or .csv")
    group_column = options.get("group_column")
    needed = ("customer_id", "date", "kwh", *((group_column,) if group_column else ()))
    frame = _read(Path(options["input"]), "--input", needed)
    model = _model_for(options.get("model"))
    groups = None
    if group_column:
        groups = frame.select("customer_id", group=pl.col(group_column).cast(pl.String)).unique(
            "customer_id", keep="first"
        )
    started = time.perf_counter()
    result = score_customers(
        frame, model, groups=groups, explain_top=None if options["explain_all"] else EXPLAIN_TOP
    )
    seconds = time.perf_counter() - started
    table = result.scores.select(output_columns())
    try:
        if output.suffix.lower() == ".parquet":
            table.write_parquet(output)
        else:
            table.write_csv(output)
    except OSError as exc:
        raise CommandError(f"--output: cannot write {output} ({exc.strerror or exc})") from exc
    scored, flagged = table.height, int(table["flagged"].sum())
    out = command.stdout
    out.write(f"model {model.version} (threshold {model.threshold:.3f})")
    out.write(
        f"scored {scored} customers in {seconds:.1f} s, {flagged} flagged; "
        f"{result.skipped.height} skipped (fewer than {model.min_readings} readings)"
    )
    out.write(f"written to {output}")
    out.write(
        json.dumps(
            {
                "model": model.version,
                "scored": scored,
                "flagged": flagged,
                "skipped": result.skipped.height,
                "seconds": round(seconds, 2),
                "output": str(output),
            }
        )
    )


# --- model list | activate ---------------------------------------------------------------


def _model_arguments(parser: Any) -> None:
    parser.add_argument("model_action", choices=("list", "activate"), metavar="list|activate")
    parser.add_argument("version", nargs="?", help="The version to activate.")


def _model_handle(command: Any, options: dict[str, Any]) -> None:
    from gridcare.inspection.models import ModelArtefact
    from gridcare.inspection.services.scoring import model_activate

    out = command.stdout
    if options["model_action"] == "activate":
        if not options.get("version"):
            raise CommandError(
                "model activate: give the VERSION to activate (see `gridcare theft model list`)"
            )
        try:
            artefact = model_activate(actor=ACTOR_MODEL, version=options["version"])
        except GridCareError as exc:
            raise CommandError(str(exc.message)) from exc
        out.write(f"active model: {artefact.version}")
        out.write(json.dumps({"active": artefact.version}))
        return
    rows = list(ModelArtefact.objects.order_by("-registered_at", "-pk"))
    if not rows:
        out.write("no theft models registered")
    for artefact in rows:
        metrics = (artefact.training or {}).get("metrics") or {}
        auc = f"AUC {metrics['auc']:.3f}" if "auc" in metrics else "no held-out metrics"
        out.write(
            f"{'*' if artefact.is_active else ' '} {artefact.version}  threshold {artefact.threshold:.3f}  "
            f"{auc}  registered {timezone.localtime(artefact.registered_at):%Y-%m-%d %H:%M} "
            f"by {artefact.registered_by or '-'}"
        )
    out.write(
        json.dumps(
            [
                {"version": a.version, "active": a.is_active, "threshold": a.threshold, "sha256": a.sha256}
                for a in rows
            ]
        )
    )


# --- run ---------------------------------------------------------------------------------


def _run_arguments(parser: Any) -> None:
    parser.add_argument(
        "--end", metavar="DATE", help="Last day of the window, YYYY-MM-DD (default yesterday)."
    )
    parser.add_argument("--days", type=int, default=365, help="Days in the window (default 365).")


def _run_handle(command: Any, options: dict[str, Any]) -> None:
    from gridcare.inspection.services.scoring import scoring_run

    end = None
    if options.get("end"):
        try:
            end = dt.date.fromisoformat(options["end"])
        except ValueError as exc:
            raise CommandError(f"--end: {options['end']!r} is not a date (YYYY-MM-DD)") from exc
    try:
        run = scoring_run(actor=ACTOR_RUN, end=end, days=options["days"])
    except GridCareError as exc:
        raise CommandError(str(exc.message)) from exc
    out = command.stdout
    out.write(
        f"scoring run {run.pk} with {run.artefact.version}: {run.window_start} … {run.window_end}, "
        f"{run.accounts_scored} accounts scored, {run.flagged} flagged, {run.seconds:.1f} s"
    )
    out.write(
        json.dumps(
            {
                "run": run.pk,
                "model": run.artefact.version,
                "status": run.status,
                "window_start": run.window_start.isoformat(),
                "window_end": run.window_end.isoformat(),
                "accounts_scored": run.accounts_scored,
                "flagged": run.flagged,
                "seconds": run.seconds,
            }
        )
    )


SUBCOMMANDS: dict[str, tuple[str, Callable[[Any], None], Callable[[Any, dict[str, Any]], None]]] = {
    "train": (
        "Train the theft risk model (窃电风险模型) on a labelled frame and write a versioned artefact.",
        _train_arguments,
        _train_handle,
    ),
    "score": (
        "Score a daily consumption file (窃电风险评分): score, rank, reasons, window per customer.",
        _score_arguments,
        _score_handle,
    ),
    "model": (
        "List the registered theft models or activate one.",
        _model_arguments,
        _model_handle,
    ),
    "run": (
        "Score the app's active accounts now with the active model (the nightly job's run).",
        _run_arguments,
        _run_handle,
    ),
}
