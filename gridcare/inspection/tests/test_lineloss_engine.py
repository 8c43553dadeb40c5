"""Line-loss engine (台区线损) on synthetic areas with known injected thieves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridcare.inspection.engine.lineloss import LineLossParams, line_loss

START = dt.date(2026, 10, 1)
DAYS = 30
END = START + dt.timedelta(days=DAYS - 1)


@dataclass
class Synthetic:
    inputs: pl.DataFrame
    consumption: pl.DataFrame
    active: pl.DataFrame
    thieves: dict[int, list[int]]  # area → thief accounts
    technical: dict[int, float]  # area → technical loss share


def synthetic_areas(
    *,
    seed: int,
    honest_areas: int = 4,
    theft_areas: int = 4,
    technical: tuple[float, float] = (0.03, 0.07),
    input_noise: float = 0.005,
) -> Synthetic:
    """Areas of 10–40 honest customers (households 3–10 kWh/day, a few shops 20–80) with
    log-normal day noise and a weekly shape; the theft areas have 1–2 thieves whose
    *recorded* kWh falls to 15–40 % of their use from a start day 8–20 days before the end,
    while the total meter keeps measuring their true use (× the technical loss, ± a little
    meter noise). A thief is a customer big enough that the theft moves the area's rate by
    at least 4 points."""
    rng = np.random.default_rng(seed)
    weekday = np.array([(START + dt.timedelta(days=d)).weekday() for d in range(DAYS)])
    tid_rows: list[pl.DataFrame] = []
    inputs: list[pl.DataFrame] = []
    thieves: dict[int, list[int]] = {}
    tech: dict[int, float] = {}
    next_account = 1
    days = [START + dt.timedelta(days=d) for d in range(DAYS)]
    for area in range(1, honest_areas + theft_areas + 1):
        n = int(rng.integers(10, 41))
        shop = rng.random(n) < 0.12
        level = np.where(shop, rng.uniform(20, 80, n), rng.uniform(3, 10, n))
        weekly = np.where(shop[:, None], np.where(weekday >= 5, 0.85, 1.0), np.where(weekday >= 5, 1.08, 1.0))
        noise = np.exp(rng.normal(0, 0.2, (n, DAYS)) - 0.02)
        true = level[:, None] * weekly * noise
        recorded = true.copy()
        if area > honest_areas:
            count = int(rng.integers(1, 3))
            start = DAYS - int(rng.integers(8, 21))
            factor = rng.uniform(0.15, 0.40, count)
            # the thief: one of the customers whose stolen share moves the rate ≥ 4 points
            stolen_share = level * (1 - factor.min()) / level.sum()
            pool = np.nonzero(stolen_share >= 0.04 / count)[0]
            if len(pool) < count:  # make one customer big enough
                pool = np.argsort(level)[-count:]
                level_needed = 0.05 * level.sum() / (1 - factor.min())
                true[pool] *= np.maximum(level_needed / level[pool], 1.0)[:, None]
                recorded[pool] = true[pool]
            picks = rng.choice(pool, size=count, replace=False)
            recorded[picks, start:] *= factor[:, None]
            thieves[area] = [next_account + int(p) for p in picks]
        loss = float(rng.uniform(*technical))
        tech[area] = loss
        measured = true.sum(axis=0) * (1 + loss) * np.exp(rng.normal(0, input_noise, DAYS))
        ids = np.arange(next_account, next_account + n)
        next_account += n
        tid_rows.append(
            pl.DataFrame(
                {
                    "transformer_id": np.full(n * DAYS, area),
                    "account_id": np.repeat(ids, DAYS),
                    "day": days * n,
                    "kwh": recorded.reshape(-1),
                }
            )
        )
        inputs.append(pl.DataFrame({"transformer_id": [area] * DAYS, "day": days, "kwh": measured}))
    consumption = pl.concat(tid_rows)
    active = consumption.select("transformer_id", "account_id").unique()
    return Synthetic(pl.concat(inputs), consumption, active, thieves, tech)


def _run(data: Synthetic, **kwargs: float) -> object:
    return line_loss(
        inputs=data.inputs,
        consumption=data.consumption,
        active=data.active,
        start=START,
        end=END,
        params=LineLossParams(**kwargs) if kwargs else None,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_injected_thieves_rank_in_their_areas_top_three_and_honest_areas_are_quiet(seed: int) -> None:
    data = synthetic_areas(seed=seed)
    result = line_loss(
        inputs=data.inputs, consumption=data.consumption, active=data.active, start=START, end=END
    )
    flagged = set(result.areas.filter(pl.col("flagged"))["transformer_id"].to_list())
    assert flagged == set(data.thieves)  # every theft area, and no honest one
    jump = set(result.flags.filter(pl.col("code") == "jump")["transformer_id"].to_list())
    assert jump == set(data.thieves)
    for area, accounts in data.thieves.items():
        top3 = result.suspects.filter((pl.col("transformer_id") == area) & (pl.col("rank") <= 3))
        assert set(accounts) <= set(top3["account_id"].to_list()), (area, accounts, top3)
        thief = result.suspects.filter(pl.col("account_id") == accounts[0]).row(0, named=True)
        assert thief["correlation"] > 0.5
        assert thief["drop_kwh_per_day"] > 0
        assert thief["baseline_kwh_per_day"] > thief["recent_kwh_per_day"]


def test_honest_area_rate_is_its_technical_loss() -> None:
    data = synthetic_areas(seed=7, honest_areas=3, theft_areas=0, input_noise=0.0)
    result = line_loss(
        inputs=data.inputs, consumption=data.consumption, active=data.active, start=START, end=END
    )
    assert not result.areas["flagged"].any()
    assert result.suspects.is_empty()
    for row in result.areas.iter_rows(named=True):
        expected = data.technical[row["transformer_id"]] / (1 + data.technical[row["transformer_id"]]) * 100
        assert row["loss_rate_pct"] == pytest.approx(expected, abs=1e-9)
        assert row["baseline_rate_pct"] == pytest.approx(expected, abs=1e-9)
        assert row["recent_rate_pct"] == pytest.approx(expected, abs=1e-9)
        assert row["complete_days"] == DAYS


def _area(
    inputs: list[float], customers: Mapping[int, Sequence[float | None]], *, tid: int = 1
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    days = [START + dt.timedelta(days=d) for d in range(len(inputs))]
    inp = pl.DataFrame({"transformer_id": [tid] * len(days), "day": days, "kwh": inputs})
    rows = [
        (tid, account, day, kwh)
        for account, series in customers.items()
        for day, kwh in zip(days, series, strict=True)
        if kwh is not None
    ]
    cons = pl.DataFrame(
        rows,
        schema={"transformer_id": pl.Int64, "account_id": pl.Int64, "day": pl.Date, "kwh": pl.Float64},
        orient="row",
    )
    active = pl.DataFrame({"transformer_id": [tid] * len(customers), "account_id": list(customers)})
    return inp, cons, active


def test_hand_computed_series_with_an_incomplete_day() -> None:
    # Two customers; on day 3 customer 2 has no reading: the day is shown, not used.
    inp, cons, active = _area(
        [110.0, 105.0, 120.0, 100.0], {1: [60.0, 50.0, 70.0, 45.0], 2: [40.0, 50.0, None, 45.0]}
    )
    result = line_loss(
        inputs=inp, consumption=cons, active=active, start=START, end=START + dt.timedelta(days=3)
    )
    series = result.series
    assert series["complete"].to_list() == [True, True, False, True]
    assert series["billed_kwh"].to_list() == [100.0, 100.0, 70.0, 90.0]
    assert series["loss_kwh"].to_list() == [10.0, 5.0, None, 10.0]
    assert series["rate_pct"].to_list()[3] == pytest.approx(10.0)
    assert series["rate_pct"].to_list()[2] is None
    area = result.areas.row(0, named=True)
    assert area["complete_days"] == 3
    assert area["input_kwh"] == 315.0  # 110 + 105 + 100: the incomplete day is left out
    assert area["billed_kwh"] == 290.0
    assert area["loss_rate_pct"] == pytest.approx(25 / 315 * 100)
    # fewer than 2 × 5 complete days: no baseline; recent = the last (up to 7) complete days
    assert area["baseline_rate_pct"] is None
    assert area["recent_rate_pct"] == pytest.approx(25 / 315 * 100)
    assert not area["flagged"]  # fewer than 7 complete days: no flag at all
    # a missing input day is incomplete too
    result = line_loss(
        inputs=inp.head(2), consumption=cons, active=active, start=START, end=START + dt.timedelta(days=3)
    )
    assert result.series["complete"].to_list() == [True, True, False, False]
    assert result.series["input_kwh"].to_list()[3] is None


def test_change_point_splits_at_the_jump_hand_computed() -> None:
    # 12 days at 5 % loss, then 8 days at 15 %: the split falls on day 13.
    customers = {1: [95.0] * 12 + [85.0] * 8}
    inp, cons, active = _area([100.0] * 20, customers)
    result = line_loss(
        inputs=inp, consumption=cons, active=active, start=START, end=START + dt.timedelta(days=19)
    )
    area = result.areas.row(0, named=True)
    assert area["change_day"] == START + dt.timedelta(days=12)
    assert area["baseline_rate_pct"] == pytest.approx(5.0)
    assert area["recent_rate_pct"] == pytest.approx(15.0)
    assert area["loss_rate_pct"] == pytest.approx((12 * 5 + 8 * 15) / 20)
    codes = result.flags.select("code", "value", "threshold").rows()
    assert codes == [("rate_above", pytest.approx(15.0), 10.0), ("jump", pytest.approx(10.0), 3.0)]
    suspect = result.suspects.row(0, named=True)
    assert suspect["account_id"] == 1
    assert suspect["drop_kwh_per_day"] == pytest.approx(10.0)
    assert suspect["correlation"] == pytest.approx(1.0)
    assert suspect["score"] == pytest.approx(1.0)  # explains the whole 10 kWh/day increase


def test_negative_loss_area_is_flagged_negative_without_suspects() -> None:
    # the customers' meters sum to more than the total meter: −4 % (e.g. a customer filed
    # under the wrong area)
    inp, cons, active = _area([100.0] * 14, {1: [60.0] * 14, 2: [44.0] * 14})
    result = line_loss(
        inputs=inp, consumption=cons, active=active, start=START, end=START + dt.timedelta(days=13)
    )
    assert result.flags.select("code").to_series().to_list() == ["negative"]
    assert result.flags["value"][0] == pytest.approx(-4.0)
    assert result.flags["threshold"][0] == -1.0
    assert result.areas["flagged"].to_list() == [True]
    assert result.suspects.is_empty()


def test_a_missing_customer_does_not_look_like_theft() -> None:
    # customer 2 stops reporting for the last 10 days: those days are incomplete, no flag
    inp, cons, active = _area([105.0] * 20, {1: [60.0] * 20, 2: [40.0] * 10 + [None] * 10})
    result = line_loss(
        inputs=inp, consumption=cons, active=active, start=START, end=START + dt.timedelta(days=19)
    )
    area = result.areas.row(0, named=True)
    assert area["complete_days"] == 10
    assert area["recent_rate_pct"] == pytest.approx(5 / 105 * 100)
    assert not area["flagged"]


def test_thresholds_are_parameters() -> None:
    inp, cons, active = _area([100.0] * 14, {1: [92.0] * 14})
    assert line_loss(
        inputs=inp, consumption=cons, active=active, start=START, end=START + dt.timedelta(days=13)
    ).flags.is_empty()
    low = line_loss(
        inputs=inp,
        consumption=cons,
        active=active,
        start=START,
        end=START + dt.timedelta(days=13),
        params=LineLossParams(rate_threshold_pct=7.5),
    )
    assert low.flags.rows() == [(1, "rate_above", pytest.approx(8.0), 7.5)]


# --- properties -----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    levels=st.lists(st.floats(min_value=0.5, max_value=200.0), min_size=1, max_size=12),
    loss=st.floats(min_value=0.0, max_value=0.25),
    days=st.integers(min_value=1, max_value=30),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_perfectly_metered_area_rate_equals_its_technical_loss(
    levels: list[float], loss: float, days: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    use = np.array(levels)[:, None] * rng.uniform(0.5, 1.5, (len(levels), days))
    customers = {i + 1: list(map(float, row)) for i, row in enumerate(use)}
    inp, cons, active = _area(list(map(float, use.sum(axis=0) * (1 + loss))), customers)
    result = line_loss(
        inputs=inp, consumption=cons, active=active, start=START, end=START + dt.timedelta(days=days - 1)
    )
    expected = loss / (1 + loss) * 100
    assert result.areas["loss_rate_pct"][0] == pytest.approx(expected, abs=1e-7)
    assert result.series["rate_pct"].to_numpy() == pytest.approx(np.full(days, expected), abs=1e-7)
    assert result.areas["recent_rate_pct"][0] == pytest.approx(expected, abs=1e-7)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10_000), scale=st.floats(min_value=0.01, max_value=1000.0))
def test_rates_flags_and_ranks_are_invariant_to_scaling_all_energies(seed: int, scale: float) -> None:
    data = synthetic_areas(seed=seed, honest_areas=1, theft_areas=2)
    base = line_loss(
        inputs=data.inputs, consumption=data.consumption, active=data.active, start=START, end=END
    )
    scaled = line_loss(
        inputs=data.inputs.with_columns(pl.col("kwh") * scale),
        consumption=data.consumption.with_columns(pl.col("kwh") * scale),
        active=data.active,
        start=START,
        end=END,
    )
    assert scaled.areas["flagged"].to_list() == base.areas["flagged"].to_list()
    assert scaled.areas["loss_rate_pct"].to_numpy() == pytest.approx(base.areas["loss_rate_pct"].to_numpy())
    assert (
        scaled.flags.select("transformer_id", "code").rows()
        == base.flags.select("transformer_id", "code").rows()
    )
    assert (
        scaled.suspects.select("transformer_id", "rank", "account_id").rows()
        == base.suspects.select("transformer_id", "rank", "account_id").rows()
    )
    assert scaled.suspects["score"].to_numpy() == pytest.approx(base.suspects["score"].to_numpy())


@settings(max_examples=25, deadline=None)
@given(missing=st.lists(st.integers(min_value=0, max_value=19), max_size=8), seed=st.integers(0, 1000))
def test_incomplete_days_never_count(missing: list[int], seed: int) -> None:
    """Removing one customer's reading on some days changes nothing on the other days and
    gives those days neither a loss nor a rate."""
    rng = np.random.default_rng(seed)
    use = rng.uniform(2, 10, (3, 20))
    full = {i + 1: list(map(float, row)) for i, row in enumerate(use)}
    holed: dict[int, list[float | None]] = {k: list(v) for k, v in full.items()}
    for d in missing:
        holed[2][d] = None
    inputs = list(map(float, use.sum(axis=0) * 1.05))
    end = START + dt.timedelta(days=19)
    inp, cons, active = _area(inputs, full)
    a = line_loss(inputs=inp, consumption=cons, active=active, start=START, end=end)
    inp, cons, active = _area(inputs, holed)
    b = line_loss(inputs=inp, consumption=cons, active=active, start=START, end=end)
    gone = set(missing)
    assert b.series["complete"].to_list() == [d not in gone for d in range(20)]
    kept_a = a.series.filter(b.series["complete"])
    kept_b = b.series.filter(pl.col("complete"))
    assert kept_b["rate_pct"].to_list() == pytest.approx(kept_a["rate_pct"].to_list())
    assert b.series.filter(~pl.col("complete"))["rate_pct"].null_count() == len(gone)
    assert b.areas["complete_days"][0] == 20 - len(gone)
