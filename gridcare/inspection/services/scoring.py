"""Theft risk scoring in the app (窃电风险评分): the model artefacts and the scoring runs.

* :func:`model_register` — record a trained artefact directory (``engine.model``) as a
  ``ModelArtefact``: it must lie under ``DATA_DIR/models/theft`` (copied there when it
  does not), its SHA-256 is checked and recorded; by default it becomes the active model.
* :func:`model_activate` / :func:`model_active` — one active model at a time.
* :func:`model_load` — the active model's booster, loaded once per process and version;
  the first load re-checks the files against the recorded SHA-256.
* :func:`scoring_run` — one synchronous scoring of the active accounts over a window of
  daily consumption: a ``ScoringRun`` with one ``RiskScore`` per scored account (rank,
  score, flagged, top reasons, suspicious window, class and transformer area).
* :func:`ensure_demo_model` — the demo seed's model: trained on the London benchmark when
  the data is there, on a synthetic population otherwise.

See docs/inspection-scoring.md.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import polars as pl
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridcare.core.audit import actor_label, audit_record
from gridcare.core.errors import Conflict, GridCareError, NotFound, ValidationFailed
from gridcare.core.roles import require_actor_perm
from gridcare.inspection.choices import RunStatus
from gridcare.inspection.engine.explain import EXPLAIN_TOP, reasons_of, score_customers
from gridcare.inspection.engine.model import ArtefactError, TheftModel, load_model, save_model
from gridcare.inspection.models import ModelArtefact, RiskScore, ScoringRun
from gridcare.inspection.services.consumption import accounts_daily_kwh, accounts_frame

logger = logging.getLogger(__name__)

BATCH: Final = 5_000
"""RiskScore rows per ``bulk_create`` batch."""

DEFAULT_DAYS: Final = 365
DEMO_THEFT_SHARE: Final = 0.085
DEMO_SYNTHETIC_CUSTOMERS: Final = 600

__all__ = [
    "ensure_demo_model",
    "model_activate",
    "model_active",
    "model_load",
    "model_register",
    "models_dir",
    "scoring_run",
]


def models_dir() -> Path:
    """Where artefacts live: ``DATA_DIR/models/theft``."""
    return Path(settings.DATA_DIR) / "models" / "theft"


def _relative(path: Path) -> str:
    return path.resolve().relative_to(Path(settings.DATA_DIR).resolve()).as_posix()


def _is_under(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
    except ValueError:
        return False
    return True


# --- artefacts ---------------------------------------------------------------------------


def model_active() -> ModelArtefact | None:
    """The active theft model, or None."""
    return ModelArtefact.objects.filter(is_active=True).first()


def model_register(*, actor: Any, path: str | Path, activate: bool = True) -> ModelArtefact:
    """Record the artefact directory ``path`` (written by ``engine.model.save_model``).

    The files are verified against their ``SHA256SUMS``; a directory outside
    ``DATA_DIR/models/theft`` is copied to ``DATA_DIR/models/theft/<version>/`` first.
    Raises ValidationFailed (unreadable or altered artefact) or Conflict (version already
    registered)."""
    source = Path(path)
    try:
        model = load_model(source)
    except ArtefactError as exc:
        raise ValidationFailed(
            _("The model files cannot be used: {error}").format(error=exc), field="path"
        ) from exc
    if ModelArtefact.objects.filter(version=model.version).exists():
        raise Conflict(_("The model {version} is already registered.").format(version=model.version))
    root = models_dir()
    copied: Path | None = None
    if _is_under(source, root):
        target = source
    else:
        root.mkdir(parents=True, exist_ok=True)
        target = root / model.version
        if target.exists():
            raise Conflict(_("{path} already exists; remove it or register it directly.").format(path=target))
        shutil.copytree(source, target)
        copied = target
    try:
        with transaction.atomic():
            if activate:
                ModelArtefact.objects.select_for_update().filter(is_active=True).update(is_active=False)
            artefact = ModelArtefact.objects.create(
                version=model.version,
                path=_relative(target),
                sha256=model.sha256,
                threshold=model.threshold,
                features=list(model.features),
                training={
                    key: model.meta.get(key)
                    for key in ("data", "seed", "holdout", "metrics", "lightgbm", "trees", "min_readings")
                },
                trained_at=dt.datetime.fromisoformat(str(model.meta["trained_at"])),
                is_active=activate,
                registered_by=actor_label(actor)[:150],
            )
            audit_record(
                actor=actor,
                obj=artefact,
                action="inspection.model_register",
                after={
                    "version": artefact.version,
                    "path": artefact.path,
                    "sha256": artefact.sha256,
                    "threshold": artefact.threshold,
                    "is_active": activate,
                },
            )
    except Exception:
        if copied is not None:
            shutil.rmtree(copied, ignore_errors=True)
        raise
    return artefact


def model_activate(*, actor: Any, version: str) -> ModelArtefact:
    """Make ``version`` the active model (its files must still match their SHA-256)."""
    artefact = ModelArtefact.objects.filter(version=version).first()
    if artefact is None:
        raise NotFound(_("No theft model {version}.").format(version=version), field="version")
    model_load(artefact)  # refuses missing or altered files
    with transaction.atomic():
        artefact = ModelArtefact.objects.select_for_update().get(pk=artefact.pk)
        previous = list(
            ModelArtefact.objects.select_for_update()
            .filter(is_active=True)
            .exclude(pk=artefact.pk)
            .values_list("version", flat=True)
        )
        if artefact.is_active:
            return artefact
        ModelArtefact.objects.filter(is_active=True).update(is_active=False)
        artefact.is_active = True
        artefact.save(update_fields=["is_active"])
        audit_record(
            actor=actor,
            obj=artefact,
            action="inspection.model_activate",
            before={"active": previous[0] if previous else None},
            after={"active": artefact.version},
        )
    return artefact


_cache: dict[str, TheftModel] = {}
_cache_lock = threading.Lock()


def model_load(artefact: ModelArtefact) -> TheftModel:
    """The booster of ``artefact``, from the per-process cache or loaded from disk; the
    first load checks the files against the SHA-256 recorded at registration. Raises
    GridCareError (code ``model_unusable``) when the files are missing or altered."""
    key = f"{artefact.version}:{artefact.sha256}"
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    folder = Path(settings.DATA_DIR) / artefact.path
    try:
        model = load_model(folder, expected_sha256=artefact.sha256)
    except ArtefactError as exc:
        raise GridCareError(
            _("The theft model {version} cannot be used: {error}").format(
                version=artefact.version, error=exc
            ),
            code="model_unusable",
        ) from exc
    with _cache_lock:
        _cache[key] = model
    return model


def model_cache_clear() -> None:
    """Forget the loaded boosters (tests; after replacing files by hand)."""
    with _cache_lock:
        _cache.clear()


# --- scoring runs ------------------------------------------------------------------------


def _window(end: dt.date | None, days: int) -> tuple[dt.date, dt.date]:
    if days < 1 or days > 3 * 366:
        raise ValidationFailed(_("Score between 1 and 1098 days."), field="days")
    last = end or (timezone.localdate() - dt.timedelta(days=1))
    return last - dt.timedelta(days=days - 1), last


def scoring_run(*, actor: Any, end: dt.date | None = None, days: int = DEFAULT_DAYS) -> ScoringRun:
    """Score every active account with the active model over the ``days`` days ending on
    ``end`` (default yesterday, the last complete day) and store the run.

    The accounts' daily kWh (``accounts_daily_kwh``) is scored with the customer class as
    peer group; accounts with too few readings are not scored (counted on the run). A person
    needs ``inspection.add_scoringrun``; a system actor (the nightly job) is a string. The
    RiskScore rows, counts, timing and status are written in one transaction
    with the audit row. On any failure the run is marked failed with the error (and
    audited) and a GridCareError is raised."""
    require_actor_perm(actor, "inspection.add_scoringrun")
    window_start, window_end = _window(end, days)
    artefact = model_active()
    if artefact is None:
        raise NotFound(
            _("No active theft model: train one with `gridcare theft train --register`."), field="model"
        )
    label = actor_label(actor)[:150]
    started = time.perf_counter()
    run = ScoringRun.objects.create(
        artefact=artefact,
        window_start=window_start,
        window_end=window_end,
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
        triggered_by=label,
    )
    try:
        model = model_load(artefact)
        daily = accounts_daily_kwh(start=window_start, end=window_end)
        accounts = accounts_frame()
        frame = daily.join(accounts.select("account_id"), on="account_id", how="inner").select(
            customer_id=pl.col("account_id").cast(pl.String), date=pl.col("day"), kwh=pl.col("kwh")
        )
        groups = accounts.select(
            customer_id=pl.col("account_id").cast(pl.String), group=pl.col("customer_class")
        )
        result = score_customers(frame, model, groups=groups, explain_top=EXPLAIN_TOP)
        scored = result.scores.join(
            accounts.select(
                customer_id=pl.col("account_id").cast(pl.String),
                account_id="account_id",
                transformer_id="transformer_id",
                customer_class="customer_class",
            ),
            on="customer_id",
            how="inner",
        ).sort("rank")
        skipped = accounts.height - scored.height
        with transaction.atomic():
            for offset in range(0, scored.height, BATCH):
                RiskScore.objects.bulk_create(
                    [
                        RiskScore(
                            run_id=run.pk,
                            account_id=row["account_id"],
                            transformer_id=row["transformer_id"],
                            customer_class=row["customer_class"] or "",
                            score=float(row["score"]),
                            rank=int(row["rank"]),
                            flagged=bool(row["flagged"]),
                            reasons=reasons_of(row),
                            window_start=row["window_start"],
                            window_end=row["window_end"],
                        )
                        for row in scored.slice(offset, BATCH).iter_rows(named=True)
                    ]
                )
            run.status = RunStatus.DONE
            run.accounts_scored = scored.height
            run.accounts_skipped = skipped
            run.flagged = int(scored["flagged"].sum())
            run.finished_at = timezone.now()
            run.seconds = round(time.perf_counter() - started, 3)
            run.save(
                update_fields=[
                    "status",
                    "accounts_scored",
                    "accounts_skipped",
                    "flagged",
                    "finished_at",
                    "seconds",
                ]
            )
            audit_record(
                actor=actor,
                obj=run,
                action="inspection.scoring_run",
                after={
                    "status": run.status,
                    "model": artefact.version,
                    "window_start": window_start,
                    "window_end": window_end,
                    "accounts_scored": run.accounts_scored,
                    "accounts_skipped": skipped,
                    "flagged": run.flagged,
                    "explained": int(scored["explained"].sum()),
                    "seconds": run.seconds,
                },
            )
    except Exception as exc:
        message = str(getattr(exc, "message", exc)) or exc.__class__.__name__
        with transaction.atomic():
            ScoringRun.objects.filter(pk=run.pk).update(
                status=RunStatus.FAILED,
                error=message[:2000],
                finished_at=timezone.now(),
                seconds=round(time.perf_counter() - started, 3),
            )
            run.refresh_from_db()
            audit_record(
                actor=actor,
                obj=run,
                action="inspection.scoring_run_failed",
                after={"status": run.status, "model": artefact.version, "error": run.error},
            )
        logger.error("theft scoring run %s failed: %s", run.pk, message)
        if isinstance(exc, GridCareError):
            raise
        raise GridCareError(
            _("The scoring run failed: {error}").format(error=message), code="scoring_failed"
        ) from exc
    return run


# --- the demo model ----------------------------------------------------------------------


def _demo_frame(log: Callable[[str], Any]) -> tuple[pl.DataFrame, str]:
    from gridcare.inspection.engine.attacks import benchmark_data
    from gridcare.inspection.engine.london import load_london_daily
    from gridcare.inspection.engine.synthetic import synthetic_population
    from gridcare.metering.demo_writer import london_dir

    source = london_dir()
    if (source / "daily.parquet").is_file():
        daily = load_london_daily(source)
        last = daily["date"].max()
        last_text = last.isoformat() if isinstance(last, dt.date) else "?"
        daily = daily.filter(pl.col("date") > pl.col("date").max() - pl.duration(days=DEFAULT_DAYS))
        log(f"  theft model: London benchmark, {daily['customer_id'].n_unique()} households, last 365 days")
        frame = benchmark_data(daily, theft_share=DEMO_THEFT_SHARE, seed=0)
        return (
            frame,
            f"London smart meters (last {DEFAULT_DAYS} days to {last_text}), theft share 0.085, seed 0",
        )
    log(f"  theft model: no London data in {source}; synthetic population of {DEMO_SYNTHETIC_CUSTOMERS}")
    daily = synthetic_population(
        customers=DEMO_SYNTHETIC_CUSTOMERS, days=DEFAULT_DAYS, end=timezone.localdate(), seed=0
    )
    frame = benchmark_data(daily, theft_share=DEMO_THEFT_SHARE * 2, seed=0)
    return frame, f"synthetic population of {DEMO_SYNTHETIC_CUSTOMERS}, theft share 0.17, seed 0"


def ensure_demo_model(*, log: Callable[[str], Any] = print) -> ModelArtefact:
    """The active model, or a new one trained and registered for the demo: on the London
    benchmark (last 365 days, 8.5 % thieves, seed 0) when ``london_dir()`` holds the data,
    else on a synthetic population with injected attacks. 20 % of the customers are held
    out so the model page shows honest metrics."""
    from gridcare.inspection.engine.model import train_theft_model

    active = model_active()
    if active is not None:
        return active
    started = time.perf_counter()
    frame, description = _demo_frame(log)
    model = train_theft_model(frame, seed=0, holdout=0.2, data=description)
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    artefact = model_register(actor="gridcare seed", path=save_model(model, root), activate=True)
    metrics = model.meta.get("metrics", {})
    log(
        f"  theft model {artefact.version}: held-out AUC {metrics.get('auc')}, MAP@100 "
        f"{metrics.get('map100')}, threshold {artefact.threshold:.3f} ({time.perf_counter() - started:.1f} s)"
    )
    return artefact
