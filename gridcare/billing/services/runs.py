"""Billing runs (计费): start a run for a month, execute it partition by partition (each a
checkpoint written in one transaction with its bills), hold accounts with open reading
exceptions or missing readings (or an earlier month still without an issued bill: months are
billed in order), flag bills for review, and issue the reviewed run.

* Idempotent: a bill is unique per (account, period); a partition skips accounts already
  billed for the period, so running a period again bills only what is not billed yet.
* Resumable: a partition is marked done in the transaction that writes its bills; a run
  that died midway resumes at its first pending partition. Two executions of one run share
  its partitions; the run's status moves only from the status expected (``_run_move``).
* In-process by default, or on a Dask distributed cluster (``scheduler``): the driver reads
  each partition's PERIOD frame and writes its bills; the workers only rate (pure
  engine), so the database is never touched from a worker and the next partition is read
  while the previous one is rated.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl
from django.db import connection, connections, transaction
from django.db.models import Count, Exists, F, OuterRef, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridcare.billing.choices import (
    BillStatus,
    HoldStatus,
    PartitionStatus,
    ReviewRule,
    ReviewStatus,
    RunStatus,
)
from gridcare.billing.models import (
    Bill,
    BillingHold,
    BillingPolicy,
    BillingRun,
    BillingRunPartition,
    BillReview,
)
from gridcare.billing.reasons import (
    EARLIER_MONTH,
    HIGH_AMOUNT,
    NEGATIVE_AMOUNT,
    NOT_RATED,
    SENT_BACK,
    ZERO_CONSUMPTION,
)
from gridcare.billing.selectors.policy import billing_policy_at
from gridcare.billing.services.period_data import (
    PeriodData,
    billable_account_ids,
    month_bounds,
    period_data,
    query_frame,
)
from gridcare.core.audit import actor_label, audit_record
from gridcare.core.bulk import db_datetime, decimal_text, insert_ignoring_conflicts
from gridcare.core.errors import Conflict, NotFound, ValidationFailed
from gridcare.core.ids import next_number

PARTITION_SIZE = 50_000
SYSTEM_ACTOR = "billing run"
#: The code of the Conflict an execution raises for a run that is not (or no longer) running.
RUN_NOT_RUNNING = "billing_run_not_running"

Progress = Callable[[int, int], None]


@dataclass
class Rated:
    """The engine's three frames for one partition."""

    lines: pl.DataFrame
    totals: pl.DataFrame
    errors: pl.DataFrame


def parse_period(value: str | dt.date) -> dt.date:
    """``2026-10`` (or a date) → the month's first day; a clear error otherwise."""
    if isinstance(value, dt.date):
        return value.replace(day=1)
    try:
        year, month = (int(part) for part in str(value).strip().split("-"))
        return dt.date(year, month, 1)
    except (ValueError, TypeError):
        raise ValidationFailed(_("Give the period as YYYY-MM, e.g. 2026-10."), field="period") from None


def billing_policy_for(day: dt.date) -> BillingPolicy:
    policy = billing_policy_at(day)
    if policy is None:
        raise NotFound(_("No billing policy is in force on {day}.").format(day=day), field="period")
    return policy


def billing_run_start(
    *, period: dt.date | str, actor: Any, scheduler: str = "", partition_size: int = PARTITION_SIZE
) -> BillingRun:
    """Create the run of ``period`` (or take the existing one) and lay out its partitions.

    A run with pending partitions (it died midway) keeps them: executing it resumes. A
    finished run gets fresh partitions: executing it bills the accounts still without a
    bill for the period (held accounts whose readings were fixed or whose hold was
    released, accounts sent back at review), never an account twice."""
    first = parse_period(period)
    if partition_size < 1:
        raise ValidationFailed(_("The partition size must be at least 1."), field="partition_size")
    billing_policy_for(first)
    label = actor_label(actor)
    with transaction.atomic():
        run, created = BillingRun.objects.select_for_update().get_or_create(
            period=first, defaults={"created_by": label}
        )
        before = {"status": run.status, "partitions_done": run.partitions_done}
        pending = run.partitions.filter(status=PartitionStatus.PENDING).exists()
        if not pending:
            run.partitions.all().delete()
            ids = billable_account_ids(first)
            parts = [
                BillingRunPartition(
                    run=run,
                    number=n + 1,
                    account_lo=ids[offset],
                    account_hi=ids[min(offset + partition_size, len(ids)) - 1],
                )
                for n, offset in enumerate(range(0, len(ids), partition_size))
            ]
            BillingRunPartition.objects.bulk_create(parts)
        run.partitions_total = run.partitions.count()
        run.partitions_done = run.partitions.filter(status=PartitionStatus.DONE).count()
        run.status = RunStatus.RUNNING
        run.scheduler = scheduler
        run.error = ""
        run.started_at = timezone.now()
        run.finished_at = None
        run.save()
        _refresh_counters(run)
        audit_record(
            actor=actor,
            obj=run,
            action="billing_run.start" if created else "billing_run.restart",
            before=None if created else before,
            after={"status": run.status, "partitions_total": run.partitions_total, "scheduler": scheduler},
        )
    return run


def _refresh_counters(run: BillingRun) -> None:
    """Recount the run's figures from its rows (the authoritative values)."""
    bills = Bill.objects.filter(run=run).aggregate(n=Count("id"), total=Sum("amount"))
    held = BillingHold.objects.filter(run=run, status=HoldStatus.HELD).count()
    flags = BillReview.objects.filter(bill__run=run, status=ReviewStatus.OPEN).count()
    BillingRun.objects.filter(pk=run.pk).update(
        bills_written=bills["n"] or 0,
        total_amount=bills["total"] or Decimal("0"),
        accounts_held=held,
        accounts_selected=(bills["n"] or 0) + held,
        review_flags=flags,
    )
    run.refresh_from_db()


def billing_run_execute(
    *, run_id: int, scheduler: str | None = None, progress: Progress | None = None
) -> BillingRun:
    """Rate and write every pending partition of the run, then put it in review.

    The run's status moves only from the status this execution expects (``_run_move``, a
    conditional UPDATE; the run's row is locked while the execution takes the run). A second
    execution of the same run (a job retried while the first still runs, two workers)
    shares the partitions safely (each is locked and written once) and, when the other one
    finished the run first — or the run was issued or started again meanwhile — stops with
    ``Conflict`` instead of moving the run back to review."""
    from gridcare.billing.services.catalogue import catalogue_load

    with transaction.atomic():
        run = BillingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            raise NotFound(field="run_id")
        if run.status not in (RunStatus.RUNNING, RunStatus.FAILED):
            raise Conflict(
                _("Start the run first (it is {status}).").format(status=run.get_status_display()),
                code=RUN_NOT_RUNNING,
            )
        policy = billing_policy_for(run.period)
        # This start of the run: every later move of its status checks it is still the same.
        started_at = run.started_at
        _run_move(run, RunStatus.RUNNING, before=(RunStatus.FAILED,), started_at=started_at)
    pending = list(run.partitions.filter(status=PartitionStatus.PENDING).order_by("number"))
    total = run.partitions_total
    done = total - len(pending)
    if progress:
        progress(done, total)
    try:
        catalogue = catalogue_load()
        if scheduler:
            _execute_dask(run, pending, catalogue, policy, scheduler, progress, done, total)
        elif _writer_threads() == 0:
            for part, data, started in _partitions_read(run, pending):
                rated = _rate_local(data.periods, catalogue)
                _write_partition(run, part, data, rated, policy, started)
                done += 1
                if progress:
                    progress(done, total)
        else:
            _execute_threaded(run, pending, catalogue, policy, progress, done, total)
    except Exception as exc:
        _run_move(run, RunStatus.FAILED, started_at=started_at, error=str(exc)[:2000])
        raise
    if not _run_move(run, RunStatus.REVIEW, started_at=started_at, finished_at=timezone.now()):
        run.refresh_from_db()
        raise Conflict(
            _(
                "Another execution finished this run, or it was started again (it is {status}): "
                "this execution stops without changing it."
            ).format(status=run.get_status_display()),
            code=RUN_NOT_RUNNING,
        )
    # The counters were recounted when the run (re)started and moved on by every partition
    # since; an execution that stopped midway is recounted when it is started again.
    run.refresh_from_db()
    return run


def _run_move(
    run: BillingRun,
    status: RunStatus,
    *,
    before: tuple[RunStatus, ...] = (RunStatus.RUNNING,),
    started_at: dt.datetime | None,
    **fields: Any,
) -> bool:
    """Move the run to ``status`` only if it is still in one of the ``before`` statuses and
    still the same start of the run (``started_at``): one conditional UPDATE, so two
    executions cannot both make the move and none undoes an issue or a restart. False when
    the run was not in that state (nothing changed)."""
    rows = BillingRun.objects.filter(pk=run.pk, status__in=before, started_at=started_at)
    return rows.update(status=status, **fields) == 1


def billing_run(
    *,
    period: dt.date | str,
    actor: Any,
    scheduler: str = "",
    partition_size: int = PARTITION_SIZE,
    progress: Progress | None = None,
) -> BillingRun:
    """Start (or resume) and execute the run of ``period``."""
    run = billing_run_start(period=period, actor=actor, scheduler=scheduler, partition_size=partition_size)
    return billing_run_execute(run_id=run.pk, scheduler=scheduler or None, progress=progress)


WRITER_THREADS = 2


def _writer_threads() -> int:
    """Writers working side by side: on PostgreSQL outside a transaction, two connections
    write different partitions (the server spends most of a run on COPY, index upkeep and
    the foreign-key checks at commit, which then run in parallel); otherwise none."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 0
    return WRITER_THREADS


def _write_and_close(*args: Any) -> None:
    try:
        _write_partition(*args)
    finally:
        connections.close_all()  # this thread's connection only


def _execute_threaded(
    run: BillingRun,
    pending: list[BillingRunPartition],
    catalogue: Any,
    policy: BillingPolicy,
    progress: Progress | None,
    done: int,
    total: int,
) -> None:
    """Read (background thread) → rate (this thread) → write (writer threads), at most one
    partition per writer in flight. A failed partition fails the run after the others in
    flight finish; each partition is its own checkpoint either way."""
    writers = _writer_threads()
    inflight: deque[Any] = deque()
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="billing-write") as pool:

        def settle() -> None:
            nonlocal done, failure
            try:
                inflight.popleft().result()
            except BaseException as exc:  # noqa: BLE001 - re-raised below once the others finish
                failure = failure or exc
                return
            done += 1
            if progress:
                progress(done, total)

        for part, data, started in _partitions_read(run, pending):
            if failure is not None:
                break
            rated = _rate_local(data.periods, catalogue)
            inflight.append(pool.submit(_write_and_close, run, part, data, rated, policy, started))
            while len(inflight) >= writers:
                settle()
        while inflight:
            settle()
    if failure is not None:
        raise failure


def _rate_local(periods: pl.DataFrame, catalogue: Any) -> Rated:
    return rate_frame(periods, catalogue)


def rate_frame(periods: pl.DataFrame, catalogue: Any) -> Rated:
    """The engine on one partition's frame (pure; what a Dask worker runs)."""
    from gridcare.billing.engine.rating import LINE_SCHEMA, rate

    if periods.height == 0:
        return Rated(
            lines=pl.DataFrame(schema=LINE_SCHEMA),
            totals=pl.DataFrame(schema={"account_id": pl.Int64, "wh": pl.Int64, "total_fen": pl.Int64}),
            errors=pl.DataFrame(schema={"account_id": pl.Int64, "reason": pl.String}),
        )
    rating = rate(periods, catalogue)
    return Rated(lines=rating.lines, totals=rating.totals, errors=rating.errors)


def _execute_dask(
    run: BillingRun,
    pending: list[BillingRunPartition],
    catalogue: Any,
    policy: BillingPolicy,
    scheduler: str,
    progress: Progress | None,
    done: int,
    total: int,
) -> None:
    """The same partitions on a Dask cluster: the driver reads partition k+1 while the
    workers rate partition k; results are written in partition order."""
    from distributed import Client

    from gridcare.billing.engine.rating import rate

    with Client(scheduler, set_as_default=False) as client:
        [catalogue_future] = client.scatter([catalogue], broadcast=True)
        inflight: deque[tuple[BillingRunPartition, PeriodData, Any, float]] = deque()

        def drain_one() -> None:
            nonlocal done
            part, data, future, started = inflight.popleft()
            if future is None:
                rated = rate_frame(data.periods, catalogue)
            else:
                rating = future.result()
                rated = Rated(lines=rating.lines, totals=rating.totals, errors=rating.errors)
            _write_partition(run, part, data, rated, policy, started)
            done += 1
            if progress:
                progress(done, total)

        workers = max(1, len(client.scheduler_info().get("workers", {})))
        for part, data, started in _partitions_read(run, pending):
            # The engine module itself goes to the workers (it imports no Django).
            future = (
                client.submit(rate, data.periods, catalogue_future, pure=False)
                if data.periods.height
                else None
            )
            inflight.append((part, data, future, started))
            if len(inflight) > workers:
                drain_one()
        while inflight:
            drain_one()


def _partitions_read(
    run: BillingRun, pending: list[BillingRunPartition]
) -> Iterator[tuple[BillingRunPartition, PeriodData, float]]:
    """Each pending partition with its period data. On PostgreSQL outside a transaction the
    next partition is read by a background thread (its own connection) while the caller
    rates and writes the current one: reading and writing touch different accounts."""
    if connection.vendor != "postgresql" or connection.in_atomic_block or len(pending) < 2:
        for part in pending:
            started = time.perf_counter()
            yield part, _read_partition(run, part), started
        return
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="billing-read")
    try:
        started = time.perf_counter()
        future = pool.submit(_read_partition, run, pending[0])
        for k, part in enumerate(pending):
            data = future.result()
            if k + 1 < len(pending):
                next_started = time.perf_counter()
                future = pool.submit(_read_partition, run, pending[k + 1])
            yield part, data, started
            started = next_started if k + 1 < len(pending) else time.perf_counter()
    finally:
        pool.submit(connections.close_all)
        pool.shutdown(wait=True)


def _read_partition(run: BillingRun, part: BillingRunPartition) -> PeriodData:
    lo, hi = part.account_lo, part.account_hi
    # Only a clerk's release overrides an open exception, not the run's own release of an
    # account it billed (released by SYSTEM_ACTOR): a bill sent back and re-held stays held.
    released = (
        BillingHold.objects.filter(
            run=run, status=HoldStatus.RELEASED, account_id__gte=lo, account_id__lte=hi
        )
        .exclude(released_by=SYSTEM_ACTOR)
        .values_list("account_id", flat=True)
    )
    billed = Bill.objects.filter(period=run.period, account_id__gte=lo, account_id__lte=hi).values_list(
        "account_id", flat=True
    )
    data = period_data(
        period=run.period, account_lo=lo, account_hi=hi, released=list(released), skip=list(billed)
    )
    return _hold_after_unbilled_months(data, earlier_months_unbilled(period=run.period, lo=lo, hi=hi))


#: How the reason of a hold for an earlier month without a bill starts (that reason comes
#: before the month's own; such a hold cannot be released).
EARLIER_MONTH_HELD = EARLIER_MONTH.prefix


def earlier_months_unbilled(*, period: dt.date, lo: int, hi: int) -> pl.DataFrame:
    """Accounts ``lo``–``hi`` that a run of a month before ``period`` selected but that
    have no *issued* bill for that month: held (or released but not billed yet, or sent
    back at review), or billed only as a draft: account_id and the hold's reason, naming
    the first such month. Months are billed in order — the kWh of the earlier month count
    in this month's year-to-date position (annual tiers) — so such an account is held
    until that month is billed.

    Billed means issued (``BillStatus.ISSUED``): only an issued bill is final (a database
    trigger keeps it as it is). A draft — flagged or not, its flag approved or not — is
    not: until its run is issued, a flag may still send it back (the bill is removed and
    re-rated with other kWh) and the run may be started again. A void bill (作废) bills
    nothing either.

    Only months whose run would still select the account count: an account recorded
    since as prepaid, suspended or closed for that whole month has nothing left to bill
    there (its hold is history), and holding it for that month would hold it for ever.
    One query for the holds and the drafts, one per earlier month that has some."""
    issued = Bill.objects.filter(
        account_id=OuterRef("account_id"), period=OuterRef("run__period"), status=BillStatus.ISSUED
    )
    holds = (
        BillingHold.objects.order_by()
        .filter(run__period__lt=period, account_id__gte=lo, account_id__lte=hi)
        .exclude(Exists(issued))
        .values_list("run__period", "account_id")
    )
    # By run and status: the (run, status) index finds the few drafts of the earlier runs.
    drafts = (
        Bill.objects.order_by()
        .filter(
            run__in=BillingRun.objects.filter(period__lt=period).values("pk"),
            status=BillStatus.DRAFT,
            account_id__gte=lo,
            account_id__lte=hi,
        )
        .values_list("period", "account_id")
    )
    pairs = holds.union(drafts)  # UNION: each (month, account) once
    by_month: dict[dt.date, set[int]] = {}
    for month, account_id in pairs:
        by_month.setdefault(month, set()).add(account_id)
    first: dict[int, dt.date] = {}
    for month in sorted(by_month):
        held = by_month[month] - first.keys()
        if not held:
            continue
        still = set(billable_account_ids(month, lo=min(held), hi=max(held))) & held
        first.update(dict.fromkeys(still, month))
    return pl.DataFrame(
        [(account, EARLIER_MONTH.text(month=f"{month:%Y-%m}")) for account, month in sorted(first.items())],
        schema={"account_id": pl.Int64, "reason": pl.String},
        orient="row",
    )


def _hold_after_unbilled_months(data: PeriodData, earlier: pl.DataFrame) -> PeriodData:
    """The partition's data with the selected accounts of ``earlier`` held, for that reason
    first (the month's own reasons show once the earlier month is billed)."""
    earlier = earlier.join(data.accounts.select("account_id"), on="account_id", how="semi")
    if earlier.height == 0:
        return data
    later = ~pl.col("account_id").is_in(earlier["account_id"].implode())
    return PeriodData(
        periods=data.periods.filter(later),
        holds=pl.concat([earlier, data.holds.filter(later)]).sort("account_id"),
        accounts=data.accounts,
        readings=data.readings.filter(later),
    )


def _write_partition(
    run: BillingRun,
    part: BillingRunPartition,
    data: PeriodData,
    rated: Rated,
    policy: BillingPolicy,
    started: float,
) -> None:
    """One transaction: the partition's bills, lines, review flags and holds, and the
    partition marked done with the run's counters moved on."""
    lo, hi = part.account_lo, part.account_hi
    errors = rated.errors.select(
        pl.col("account_id").cast(pl.Int64),
        NOT_RATED.expr(reason=pl.col("reason")).alias("reason"),
    )
    candidates = (
        data.periods.select("account_id", "tariff_code", "period_start", "period_end")
        .join(rated.totals.select(pl.col("account_id").cast(pl.Int64), "wh", "total_fen"), on="account_id")
        .join(errors.select("account_id"), on="account_id", how="anti")
        .join(data.readings, on="account_id", how="left")
        .join(data.accounts.rename({"status": "account_status"}), on="account_id", how="left")
        .sort("account_id")
    )
    # Bill numbers are taken before the partition's transaction (the sequence row is then
    # not locked while the bills are written, so writers do not queue on it); a partition
    # that fails leaves a gap in the numbers, never a duplicate.
    first = next_number(f"bill-{run.period:%Y%m}", count=candidates.height) if candidates.height else 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The partition and its bills commit together, so a commit lost in a server
            # crash only leaves the partition pending (redone by the next run): no need to
            # wait for the WAL flush.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        locked = BillingRunPartition.objects.select_for_update().filter(pk=part.pk).first()
        if locked is None or locked.status == PartitionStatus.DONE:
            return  # written by another execution, or replaced by a new start of the run
        now = timezone.now()
        billed_now = pl.Series(
            "account_id",
            list(
                Bill.objects.filter(period=run.period, account_id__gte=lo, account_id__lte=hi).values_list(
                    "account_id", flat=True
                )
            ),
            dtype=pl.Int64,
        )
        bills = candidates.filter(~pl.col("account_id").is_in(billed_now.implode()))
        count = bills.height
        if count:
            prefix = f"B{run.period:%Y%m}"
            frame = bills.with_columns(
                pl.concat_str(
                    [
                        pl.lit(prefix),
                        (pl.int_range(0, count, dtype=pl.Int64) + first).cast(pl.String).str.zfill(8),
                    ]
                ).alias("number"),
                pl.lit(run.pk).alias("run_id"),
                pl.lit(run.period).alias("period"),
                decimal_text("wh", scale=3, alias="kwh"),
                decimal_text("total_fen", scale=2, alias="amount"),
                pl.lit(BillStatus.DRAFT.value).alias("status"),
                pl.col("readings_json").fill_null("{}").alias("readings"),
                pl.lit(str(db_datetime(now))).alias("created_at"),
            )
            # COPY straight into the tables (no id reservation round trip); the new bills'
            # ids come back in one query over the partition's range.
            insert_ignoring_conflicts(
                table="billing_bill",
                frame=frame.select(
                    "number",
                    "account_id",
                    "run_id",
                    "period",
                    "period_start",
                    "period_end",
                    "tariff_code",
                    "kwh",
                    "amount",
                    "status",
                    "readings",
                    "created_at",
                ),
                conflict_columns=["account_id", "period"],
                expect_new=True,
            )
            stored = query_frame(
                "SELECT account_id, id FROM billing_bill WHERE period = %s AND run_id = %s "
                "AND account_id BETWEEN %s AND %s",
                [run.period.isoformat(), run.pk, lo, hi],
                {"account_id": pl.Int64, "bill_id": pl.Int64},
            )
            frame = frame.join(stored, on="account_id", how="inner")
            lines = bill_lines(rated.lines).join(
                frame.select("account_id", "bill_id", "period_start", "period_end"),
                on="account_id",
                how="inner",
            )
            insert_ignoring_conflicts(
                table="billing_billline",
                frame=lines.select(
                    "bill_id",
                    pl.col("seq").cast(pl.Int64),
                    "kind",
                    "item",
                    decimal_text("wh", scale=3, alias="kwh"),
                    decimal_text("unit_price_micro", scale=6, alias="unit_price"),
                    decimal_text("amount_fen", scale=2, alias="amount"),
                    *line_days(),
                    "tariff_version_id",
                ),
                conflict_columns=["bill_id", "seq"],
                expect_new=True,
            )
            flags = review_flags(frame, run.period, policy)
            if flags.height:
                insert_ignoring_conflicts(
                    table="billing_billreview",
                    conflict_columns=["bill_id", "rule"],
                    expect_new=True,
                    frame=flags.with_columns(
                        pl.lit(ReviewStatus.OPEN.value).alias("status"),
                        pl.lit("").alias("decided_by"),
                        pl.lit("").alias("note"),
                    ).select("bill_id", "rule", "detail", "status", "decided_by", "note"),
                )
        else:
            flags = pl.DataFrame()
        held_count = _write_holds(
            run, lo, hi, pl.concat([data.holds, errors], how="vertical_relaxed"), bills, now
        )
        seconds = time.perf_counter() - started
        BillingRunPartition.objects.filter(pk=part.pk).update(
            status=PartitionStatus.DONE, bills=count, seconds=seconds, finished_at=now
        )
    # The run's counters move on after the commit (a progress figure; the run recounts
    # them from its rows when it finishes), so parallel writers do not queue on its row.
    amount = Decimal(int(bills["total_fen"].sum() or 0)) / 100 if count else Decimal("0")
    with transaction.atomic():
        BillingRun.objects.filter(pk=run.pk).update(
            partitions_done=F("partitions_done") + 1,
            bills_written=F("bills_written") + count,
            total_amount=F("total_amount") + amount,
            accounts_held=F("accounts_held") + held_count,
            accounts_selected=F("accounts_selected") + count + held_count,
            review_flags=F("review_flags") + flags.height,
        )


#: The one INFO line a bill carries for the government funds inside a residential price.
FUNDS_INCLUDED_ITEM = "fund_included"


def bill_lines(lines: pl.DataFrame) -> pl.DataFrame:
    """The engine's lines as a bill stores them: the INFO lines of the funds included in a
    residential price (one per fund, ``fund_<name>``) become ONE INFO line
    ``fund_included`` per tariff version (kWh, the sum of the funds' unit prices, the sum
    of their amounts) at the first fund's place. The components stay derivable from the
    line's tariff version's ``included_funds`` (the bill notice prints them under the
    line); the line adds nothing to the bill either way. Halves the lines a run writes.
    A period split by a new version (a fund rate changed on the 16th) keeps one line per
    version, even when both parts have the same kWh."""
    lines = lines.with_columns(pl.col("account_id").cast(pl.Int64))
    is_fund = (pl.col("kind") == "info") & pl.col("item").str.starts_with("fund_")
    funds = lines.filter(is_fund)
    if funds.height == 0:
        return lines
    merged = (
        # by version: each keeps its own funds; by kWh too: a fund priced over part of the
        # period only keeps its own line
        funds.group_by("account_id", "tariff_version_id", "wh")
        .agg(
            pl.col("seq").min(),
            pl.lit("info").alias("kind"),
            pl.lit(FUNDS_INCLUDED_ITEM).alias("item"),
            pl.col("unit_price_micro").sum(),
            pl.col("amount_fen").sum(),
            *[pl.col(c).first() for c in lines.columns if c not in _LINE_MERGED],
        )
        .select(lines.columns)
        .cast(lines.schema)
    )
    return pl.concat([lines.filter(~is_fund), merged])


_LINE_MERGED = frozenset(
    {"account_id", "tariff_version_id", "seq", "kind", "item", "wh", "unit_price_micro", "amount_fen"}
)


def line_days() -> tuple[pl.Expr, pl.Expr]:
    """``period_from`` / ``period_to`` of the bill lines (over the engine's lines with the
    bill's ``period_start``/``period_end``): the days of a line that covers part of the
    bill's period only, so its lines do not print alike — a basic-charge line (基本电费) per
    contract when the contract changed inside the month, and every line of a period split
    by a new tariff version (each version's energy, funds and adjustment for its days: a
    fund rate changed on the 16th leaves the energy price as it was, so price and kWh do
    not tell the two parts apart); null on every other line (nearly all: a line without
    ``line_from`` covers the whole period)."""
    start, end = pl.col("line_from"), pl.col("line_to")
    partial = start.is_not_null() & ((start > pl.col("period_start")) | (end < pl.col("period_end")))
    return (
        pl.when(partial).then(start).otherwise(None).alias("period_from"),
        pl.when(partial).then(end).otherwise(None).alias("period_to"),
    )


def _write_holds(
    run: BillingRun, lo: int, hi: int, holds: pl.DataFrame, billed: pl.DataFrame, now: dt.datetime
) -> int:
    """New holds in bulk; an existing hold row keeps one row per (run, account): held again
    with the new reason, or released by the run when the account was billed now. Returns
    the number of accounts newly held."""
    holds = holds.unique("account_id", keep="first", maintain_order=True)
    stored = {
        hold.account_id: hold
        for hold in BillingHold.objects.filter(run=run, account_id__gte=lo, account_id__lte=hi).only(
            "id", "account_id", "status"
        )
    }
    existing = {account_id: hold.status for account_id, hold in stored.items()}
    fresh = holds.filter(~pl.col("account_id").is_in(list(existing)))
    added = 0
    if fresh.height:
        added = insert_ignoring_conflicts(
            table="billing_billinghold",
            frame=fresh.select(
                pl.lit(run.pk).alias("run_id"),
                "account_id",
                pl.col("reason").str.slice(0, 300),
                pl.lit(HoldStatus.HELD.value).alias("status"),
                pl.lit("").alias("released_by"),
            ),
            conflict_columns=["run_id", "account_id"],
        )
    again = 0
    changed = []
    for account_id, reason in holds.filter(pl.col("account_id").is_in(list(existing))).iter_rows():
        hold = stored[account_id]
        again += hold.status == HoldStatus.RELEASED
        hold.status, hold.reason, hold.released_by, hold.released_at = HoldStatus.HELD, reason[:300], "", None
        changed.append(hold)
    if changed:  # held again (new reason): batched UPDATEs, not one per account
        BillingHold.objects.bulk_update(
            changed, ["status", "reason", "released_by", "released_at"], batch_size=1000
        )
    billed_ids = (
        [a for a in billed["account_id"].to_list() if existing.get(a) == HoldStatus.HELD]
        if billed.height
        else []
    )
    if billed_ids:
        BillingHold.objects.filter(run=run, account_id__in=billed_ids).update(
            status=HoldStatus.RELEASED, released_by=SYSTEM_ACTOR, released_at=now
        )
    return added + again - len(billed_ids)


def review_flags(bills: pl.DataFrame, period: dt.date, policy: BillingPolicy) -> pl.DataFrame:
    """发行前审核 rules on a partition's new bills (``bill_id``, ``account_id``, ``wh``,
    ``total_fen``, ``account_status``): negative amount; zero energy on an active
    account; amount above k × the account's average over the policy's months of issued
    bills before the period. Returns bill_id, rule, detail."""
    start, _end = month_bounds(period)
    months = int(policy.review_history_months)
    year, month = divmod(start.year * 12 + start.month - 1 - months, 12)
    since = dt.date(year, month + 1, 1)
    lo, hi = int(bills["account_id"].min()), int(bills["account_id"].max())  # type: ignore[arg-type]
    history = query_frame(
        "SELECT b.account_id, CAST(SUM(ROUND(b.amount * 100)) AS BIGINT), COUNT(*) FROM billing_bill b "
        "WHERE b.account_id BETWEEN %s AND %s AND b.period >= %s AND b.period < %s AND b.status = 'issued' "
        "GROUP BY b.account_id",
        [lo, hi, since.isoformat(), start.isoformat()],
        {"account_id": pl.Int64, "sum_fen": pl.Int64, "n": pl.Int64},
    )
    k_centi = int(policy.review_high_factor * 100)
    frame = bills.select("bill_id", "account_id", "wh", "total_fen", "account_status").join(
        history, on="account_id", how="left"
    )

    money = _yuan
    negative = frame.filter(pl.col("total_fen") < 0).select(
        "bill_id",
        pl.lit(ReviewRule.NEGATIVE.value).alias("rule"),
        NEGATIVE_AMOUNT.expr(amount=money(pl.col("total_fen"))).alias("detail"),
    )
    zero = frame.filter((pl.col("wh") == 0) & (pl.col("account_status") == "active")).select(
        "bill_id",
        pl.lit(ReviewRule.ZERO.value).alias("rule"),
        pl.lit(ZERO_CONSUMPTION.text()).alias("detail"),
    )
    high = frame.filter(
        (pl.col("sum_fen") > 0) & (pl.col("total_fen") * 100 * pl.col("n") > pl.col("sum_fen") * k_centi)
    ).select(
        "bill_id",
        pl.lit(ReviewRule.HIGH.value).alias("rule"),
        HIGH_AMOUNT.expr(
            amount=money(pl.col("total_fen")),
            factor=pl.lit(str(policy.review_high_factor)),
            months=pl.lit(str(months)),
            average=money(pl.col("sum_fen") // pl.col("n")),
        ).alias("detail"),
    )
    return pl.concat([negative, zero, high], how="vertical_relaxed")


def _yuan(expr: pl.Expr) -> pl.Expr:
    sign = pl.when(expr < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    magnitude = expr.abs()
    return pl.concat_str(
        [
            pl.lit("¥"),
            sign,
            (magnitude // 100).cast(pl.String),
            pl.lit("."),
            (magnitude % 100).cast(pl.String).str.zfill(2),
        ]
    )


# --- review, holds, issue ------------------------------------------------------------------


def bill_review_decide(*, review_id: int, actor: Any, decision: str, note: str = "") -> BillReview:
    """A billing clerk approves a review flag, or sends the bill back: the draft bill (its
    lines and flags) is removed and the account held in the run ("Sent back at review:
    <note>"), so a later run of the period re-rates the account once its readings are
    fixed, and later months wait for it. Returns the review (unsaved after a send-back)."""
    if decision not in ("approve", "send_back"):
        raise ValidationFailed(_("Decide approve or send_back."), field="decision")
    if decision == "send_back" and not note.strip():
        raise ValidationFailed(_("Say why the bill is sent back."), field="note")
    with transaction.atomic():
        review = BillReview.objects.select_for_update().select_related("bill").filter(pk=review_id).first()
        if review is None:
            raise NotFound(field="review_id")
        bill = Bill.objects.select_for_update().get(pk=review.bill_id)
        if review.status != ReviewStatus.OPEN or bill.status != BillStatus.DRAFT:
            raise Conflict(_("This review was already decided."))
        review.decided_by = actor_label(actor)[:150]
        review.decided_at = timezone.now()
        review.note = note.strip()[:300]
        if decision == "approve":
            review.status = ReviewStatus.APPROVED
            review.save(update_fields=["status", "decided_by", "decided_at", "note"])
            if bill.run_id is not None:  # one open flag fewer
                BillingRun.objects.filter(pk=bill.run_id).update(review_flags=F("review_flags") - 1)
            audit_record(
                actor=actor,
                obj=review,
                action="bill_review.approve",
                before={"status": ReviewStatus.OPEN},
                after={"status": review.status, "bill": bill.number},
                reason=review.note,
            )
        else:
            review.status = ReviewStatus.SENT_BACK
            audit_record(
                actor=actor,
                obj=review,
                action="bill_review.send_back",
                before={"status": ReviewStatus.OPEN, "bill": bill.number, "amount": bill.amount},
                after={
                    "status": review.status,
                    "bill_removed": True,
                    "account_held": bill.run_id is not None,
                },
                reason=review.note,
            )
            run = bill.run
            bill.delete()
            if run is not None:
                # Held until a run of the month bills it again: later months wait for it.
                BillingHold.objects.update_or_create(
                    run=run,
                    account_id=bill.account_id,
                    defaults={
                        "reason": SENT_BACK.text(note=review.note)[:300],
                        "status": HoldStatus.HELD,
                        "released_by": "",
                        "released_at": None,
                    },
                )
                _refresh_counters(run)
    return review


def billing_hold_release(*, hold_id: int, actor: Any, note: str = "") -> BillingHold:
    """Release a held account: the next run of the period bills it even if a reading
    exception is still open (a clerk checked it). A missing reading still holds it. A hold
    for an earlier month not billed cannot be released: that month is billed first."""
    with transaction.atomic():
        hold = BillingHold.objects.select_for_update().filter(pk=hold_id).first()
        if hold is None:
            raise NotFound(field="hold_id")
        if hold.status != HoldStatus.HELD:
            raise Conflict(_("This account is not held."))
        if hold.reason.startswith(EARLIER_MONTH_HELD):
            raise Conflict(
                _(
                    "This account waits for the bill of an earlier month: bill that month, "
                    "then run this one again."
                )
            )
        hold.status = HoldStatus.RELEASED
        hold.released_by = actor_label(actor)[:150]
        hold.released_at = timezone.now()
        hold.save(update_fields=["status", "released_by", "released_at"])
        BillingRun.objects.filter(pk=hold.run_id).update(accounts_held=F("accounts_held") - 1)
        audit_record(
            actor=actor,
            obj=hold,
            action="billing_hold.release",
            before={"status": HoldStatus.HELD, "reason": hold.reason},
            after={"status": hold.status},
            reason=note,
        )
    return hold


def billing_run_issue(*, run_id: int, actor: Any, issued_at: dt.datetime | None = None) -> int:
    """发行: every draft bill of the run without an open or sent-back review becomes issued
    (issued_at now, due date = issue date + the policy's due days), in one statement.
    Issued bills never change afterwards. Returns the number of bills issued. Credit
    balances then pay the new bills (payments module). ``issued_at`` (aware; default now)
    records an issue made earlier, e.g. when loading history: the due date counts from it."""
    if issued_at is not None and timezone.is_naive(issued_at):
        raise ValidationFailed(_("Give the issue time with its time zone."), field="issued_at")
    with transaction.atomic():
        run = BillingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            raise NotFound(field="run_id")
        if run.status not in (RunStatus.REVIEW, RunStatus.ISSUED):
            raise Conflict(
                _("Only a rated run in review can be issued (it is {status}).").format(
                    status=run.get_status_display()
                )
            )
        now = issued_at or timezone.now()
        today = timezone.localdate(now)
        policy = billing_policy_for(today)
        due = today + dt.timedelta(days=int(policy.due_days))
        blocked = BillReview.objects.filter(
            bill=OuterRef("pk"), status__in=[ReviewStatus.OPEN, ReviewStatus.SENT_BACK]
        )
        drafts = Bill.objects.filter(run=run, status=BillStatus.DRAFT).exclude(Exists(blocked))
        issued = drafts.update(status=BillStatus.ISSUED, issued_at=now, due_date=due)
        before = {"status": run.status}
        run.status = RunStatus.ISSUED
        run.issued_at = now
        run.issued_by = actor_label(actor)[:150]
        run.save(update_fields=["status", "issued_at", "issued_by"])
        audit_record(
            actor=actor,
            obj=run,
            action="billing_run.issue",
            before=before,
            after={"status": run.status, "bills_issued": issued, "due_date": due.isoformat()},
        )
    if issued:
        # After the commit (a payment posted meanwhile applies its own credit after its
        # commit): the accounts as a query, so a million-bill run sends no list of ids.
        accounts = Bill.objects.filter(run=run, status=BillStatus.ISSUED, issued_at=now).values("account_id")
        _apply_balances(accounts, actor)
    return issued


def _apply_balances(account_ids: QuerySet[Any], actor: Any) -> None:
    """Let credit balances pay the new bills, when the payments module offers it."""
    try:
        from gridcare.billing.services import payments
    except ImportError:
        return
    apply = getattr(payments, "balances_apply", None)
    if apply is not None:
        apply(account_ids=account_ids, actor=actor)


def readings_of(bill: Bill) -> dict[str, Any]:
    """The readings a bill used, as stored (register → meter, start, end, multiplier, kWh)."""
    value = bill.readings
    return json.loads(value) if isinstance(value, str) else dict(value or {})


def run_blocked_reviews(run: BillingRun) -> int:
    """Open review flags that keep bills of the run from being issued."""
    return BillReview.objects.filter(bill__run=run, status=ReviewStatus.OPEN).count()


__all__ = [
    "EARLIER_MONTH_HELD",
    "PARTITION_SIZE",
    "RUN_NOT_RUNNING",
    "bill_review_decide",
    "billing_hold_release",
    "billing_run",
    "billing_run_execute",
    "billing_run_issue",
    "billing_run_start",
    "earlier_months_unbilled",
    "parse_period",
    "rate_frame",
    "bill_lines",
    "line_days",
    "review_flags",
]
