"""Demo metering data: the pure generator (no database) and the seed that writes it."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from django.core.management import call_command
from django.utils import timezone

from gridcare.customers.demo import generate_county
from gridcare.customers.models import Account, Transformer
from gridcare.metering import demo
from gridcare.metering.interval import curves_read, transformer_curves_read
from gridcare.metering.models import Installation, Meter, Reading, ReadingException

END = dt.date(2026, 11, 25)


@pytest.fixture(scope="module")
def plan() -> demo.MeteringPlan:
    return demo.plan_metering(generate_county(1500, 3), seed=3, end=END, months=4)


@pytest.fixture(scope="module")
def readings(plan: demo.MeteringPlan) -> pl.DataFrame:
    return pl.concat([c.readings for c in plan.chunks() if c.readings is not None])


def _steps(frame: pl.DataFrame) -> pl.DataFrame:
    """Per meter and register, each reading with the previous one and the days between."""
    return (
        frame.sort("meter", "register", "day")
        .with_columns(
            prev=pl.col("value").shift(1).over("meter", "register"),
            gap=(pl.col("day") - pl.col("day").shift(1).over("meter", "register")).dt.total_days(),
        )
        .drop_nulls("prev")
    )


# --- pure generator ------------------------------------------------------------------------


def test_generator_is_deterministic_per_seed(plan: demo.MeteringPlan, readings: pl.DataFrame) -> None:
    again = demo.plan_metering(generate_county(1500, 3), seed=3, end=END, months=4)
    assert again.meters == plan.meters
    assert again.installations == plan.installations
    assert again.anomalies == plan.anomalies
    assert pl.concat([c.readings for c in again.chunks() if c.readings is not None]).equals(readings)
    other = demo.plan_metering(generate_county(1500, 3), seed=4, end=END, months=4)
    assert [m.asset_no for m in other.meters] != [m.asset_no for m in plan.meters]


def test_one_meter_per_active_account_with_realistic_assets(plan: demo.MeteringPlan) -> None:
    county = generate_county(1500, 3)
    active = [i for i, a in enumerate(county.accounts) if a.status == "active"]
    assert [s.index for s in plan.specs] == active
    exchanges = int((plan.exchange_day >= 0).sum())
    assert exchanges >= 2
    assert len(plan.meters) == len(active) + exchanges
    assert len({m.asset_no for m in plan.meters}) == len(plan.meters)
    assert len({m.barcode for m in plan.meters}) == len(plan.meters)
    assert all(m.asset_no.startswith("3110") and len(m.asset_no) == 14 for m in plan.meters)
    by_class = {}
    for m in plan.meters:
        by_class.setdefault(plan.specs[m.account].customer_class, set()).add(
            (m.meter_type, m.digits, m.accuracy_class, m.registers[0])
        )
    assert by_class["rural_res"] == {("single", 6, "2", "total")}
    assert {k[:3] for k in by_class["general_ic"]} == {("three", 8, "1")}
    for m in plan.meters:
        assert m.manufactured_on < m.last_verified_on <= END
        spec = plan.specs[m.account]
        if spec.customer_class == "large_ind":
            assert m.registers == demo.LI_TOU
            assert m.accuracy_class == "0.5S"
            assert m.multiplier % 100 == 0  # CT ratio × PT 10000/100
            assert m.multiplier >= 300
        # 力调 (power-factor adjusted: 100 kVA and up) accounts record reactive energy
        pf_adjusted = spec.customer_class == demo.LARGE_IND or (
            spec.customer_class in (demo.GENERAL_IC, demo.AGRI) and spec.capacity_kva >= 100
        )
        assert ("reactive" in m.registers) == pf_adjusted
    # every installation is before the meter's first reading
    open_installs = [i for i in plan.installations if i.removed_at is None]
    assert len(open_installs) == len(active)
    assert all(i.installed_at.date() <= END for i in plan.installations)


def test_tou_registers_sum_exactly_to_the_total(readings: pl.DataFrame) -> None:
    wide = readings.pivot(on="register", index=["meter", "day"], values="value")
    tou = wide.filter(pl.col("valley").is_not_null())
    parts = [c for c in ("sharp", "peak", "flat", "valley") if c in tou.columns]
    assert tou.height > 1000
    mismatch = tou.filter(pl.col("total") != pl.sum_horizontal([pl.col(c).fill_null(0) for c in parts]))
    assert mismatch.height == 0


def test_readings_only_go_down_where_injected(plan: demo.MeteringPlan, readings: pl.DataFrame) -> None:
    steps = _steps(readings)
    down = steps.filter(pl.col("value") < pl.col("prev"))
    decreasing = {(m, d) for m, d, _ in plan.anomalies["decreasing"]}
    rollover_meters = {m for m, _, _ in plan.anomalies["rollover"]}
    got = {(m, d) for m, d in down.select("meter", "day").iter_rows()}
    rolled = {m for m, _ in got if m in rollover_meters}
    assert got - {(m, d) for m, d in got if m in rollover_meters} == decreasing
    assert rolled == rollover_meters  # every rollover meter wraps inside the window …
    for m in rollover_meters:  # … from near 999990 on its 6-digit register
        first = readings.filter(pl.col("meter") == m).sort("day")["value"][0]
        assert 999_900_000 <= first < 1_000_000_000
        assert plan.meters[m].digits == 6


def test_injected_anomalies_show_in_the_readings(plan: demo.MeteringPlan, readings: pl.DataFrame) -> None:
    eligible = sum(1 for p in range(plan.readings_accounts) if plan.first_day[p] == 0)
    counts = {rule: len(v) for rule, v in plan.anomalies.items()}
    assert counts == {
        "spike": max(2, eligible // 300),
        "zero_run": max(2, eligible // 300),
        "missing": max(2, eligible // 200),
        "decreasing": 3,
        "rollover": 3,
    }
    # all on different meters
    meters = [m for v in plan.anomalies.values() for m, _, _ in v]
    assert len(meters) == len(set(meters))
    steps = _steps(readings.filter(pl.col("register") == "total"))
    for m, d_from, d_to in plan.anomalies["zero_run"]:  # flat from d_from to the end
        run = steps.filter((pl.col("meter") == m) & pl.col("day").is_between(d_from, d_to))
        assert (d_to - d_from).days + 1 >= 10
        assert run.height == (d_to - d_from).days + 1
        assert (run["value"] == run["prev"]).all()
    for m, d_from, d_to in plan.anomalies["missing"]:
        days = readings.filter((pl.col("meter") == m) & pl.col("day").is_between(d_from, d_to))
        assert days.height == 0
        after = steps.filter(pl.col("meter") == m).filter(pl.col("day") == d_to + dt.timedelta(days=1))
        assert after["gap"].to_list() == [(d_to - d_from).days + 2]
    for m, day, _ in plan.anomalies["spike"]:
        meter_steps = steps.filter(pl.col("meter") == m).with_columns(use=pl.col("value") - pl.col("prev"))
        spike = meter_steps.filter(pl.col("day") == day)["use"][0]
        assert spike > 5 * meter_steps["use"].median()


def test_exchange_conserves_energy(plan: demo.MeteringPlan) -> None:
    for chunk in plan.chunks():
        if chunk.readings is None:
            continue
        demo.final_readings(plan, chunk.readings, chunk.use_wh, chunk.start)
    for pos in np.nonzero(plan.exchange_day >= 0)[0]:
        old = plan.installations[int(pos)]
        new = next(i for i in plan.installations if i.account == pos and i.removed_at is None)
        assert old.removed_at == new.installed_at
        assert old.final_readings is not None
        assert set(old.final_readings) == set(plan.meters[old.meter].registers)
        assert new.initial_readings == dict.fromkeys(plan.meters[new.meter].registers, "0.000")
        assert plan.meters[old.meter].status == "removed"


def test_curves_are_exact_integer_splits_of_the_daily_use(plan: demo.MeteringPlan) -> None:
    chunk = next(plan.chunks(size=300, readings=False))
    positions = np.arange(0, 300, 7)
    curves = demo.account_curves(plan, positions, chunk.use_wh[positions], days=30)
    assert curves.height == len(positions) * 30 * 96
    assert curves["wh"].min() >= 0
    daily = curves.group_by("key", "day").agg(pl.col("wh").sum()).sort("key", "day")
    expected = chunk.use_wh[positions][:, -30:].reshape(-1)
    assert daily["wh"].to_numpy().tolist() == expected.tolist()


def test_transformer_totals_are_the_sum_plus_line_loss(plan: demo.MeteringPlan) -> None:
    n_t = max(s.transformer for s in plan.specs) + 1
    use = sum(
        demo.transformer_use(plan, c.use_wh, c.start, n_t, 30) for c in plan.chunks(size=500, readings=False)
    )
    curves = demo.transformer_curves(plan, use, days=30)
    daily = curves.group_by("key", "day").agg(pl.col("wh").sum())
    served = np.nonzero(use.sum(axis=(1, 2)))[0]
    assert sorted(daily["key"].unique().to_list()) == served.tolist()
    totals = daily.group_by("key").agg(pl.col("wh").sum()).sort("key")["wh"].to_numpy()
    ratio = totals / use[served].sum(axis=(1, 2))
    assert ratio.min() >= 1.029
    assert ratio.max() <= 1.081


def test_london_shapes_are_optional(tmp_path: Path) -> None:
    assert demo.load_london_shapes(tmp_path) is None  # folder without the file: synthetic


def test_london_shapes_load_from_the_shared_data() -> None:
    # The project's shared/ folder sits beside the checkout (also in CI); a missing folder
    # is a failure here, not a skip: this test is what proves the real shapes load.
    folder = Path(__file__).resolve().parents[4] / "shared/data/london_smart_meters"
    shapes = demo.load_london_shapes(folder)
    assert shapes is not None, f"no London data at {folder} (../shared/data beside the checkout)"
    values, months = shapes
    assert values.shape[1] == 96
    assert np.allclose(values.sum(axis=1), 1.0)
    assert set(months.tolist()) == set(range(1, 13))


# --- the seed writes it ---------------------------------------------------------------------


@pytest.mark.django_db
def test_small_seed_writes_consistent_meters_installations_readings_and_curves(
    settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    settings.DATA_DIR = tmp_path
    out = StringIO()
    call_command(
        "seed",
        "--customers",
        "300",
        "--seed",
        "2",
        "--readings-months",
        "2",
        "--curve-sample",
        "20",
        "--no-inspection",
        stdout=out,
    )
    assert "Metering:" in out.getvalue()

    # every active account has exactly one open installation, of an installed meter
    active = set(Account.objects.filter(status="active").values_list("id", flat=True))
    open_installs = list(
        Installation.objects.filter(removed_at__isnull=True).values_list("account_id", "meter_id")
    )
    assert sorted(a for a, _ in open_installs) == sorted(active)
    assert set(Meter.objects.filter(status="installed").values_list("id", flat=True)) == {
        m for _, m in open_installs
    }
    removed = Installation.objects.filter(removed_at__isnull=False)
    assert removed.count() == Meter.objects.filter(status="removed").count() >= 2
    assert all(i.final_readings for i in removed)

    # readings: monotone per meter and register except the rollovers and injected decreases
    frame = pl.DataFrame(
        list(Reading.objects.values_list("meter_id", "register", "day", "value", "quality")),
        schema={
            "meter": pl.Int64,
            "register": pl.String,
            "day": pl.Date,
            "value": pl.Decimal(14, 3),
            "quality": pl.String,
        },
        orient="row",
    ).with_columns(value=(pl.col("value") * 1000).cast(pl.Int64))
    assert frame.height > 300 * 55
    down = _steps(frame).filter(pl.col("value") < pl.col("prev"))
    wrapped = down.filter(pl.col("prev") > 900_000_000)  # 6-digit registers past 999999
    decreasing = down.filter(pl.col("prev") <= 900_000_000)
    assert wrapped.height == 3
    assert decreasing.height == 3
    # … and VEE opened an exception for each decreasing reading and each stopped meter
    exceptions = ReadingException.objects.filter(status="open")
    assert sorted(exceptions.filter(rule="decreasing").values_list("meter_id", "day_from")) == sorted(
        decreasing.select("meter", "day").iter_rows()
    )
    assert not exceptions.filter(account__isnull=True).exists()
    # exactly the injected anomalies (gaps of up to 3 days are estimated instead)
    plan = demo.plan_metering(
        generate_county(300, 2), seed=2, end=timezone.localdate() - dt.timedelta(days=1), months=2
    )
    injected = {
        rule: sorted(
            (plan.meters[m].asset_no, d_from)
            for m, d_from, d_to in plan.anomalies[rule]
            if keep(d_from, d_to)
        )
        for rule, keep in (
            ("spike", lambda a, b: True),
            ("zero_run", lambda a, b: True),
            ("decreasing", lambda a, b: True),
            ("missing", lambda a, b: (b - a).days + 1 > 3),
        )
    }
    opened = {
        rule: sorted(exceptions.filter(rule=rule).values_list("meter__asset_no", "day_from"))
        for rule in injected
    }
    # the reading after a decreasing one may also count as a spike (its use makes up the drop)
    after_drop = {
        (plan.meters[m].asset_no, d + dt.timedelta(days=1)) for m, d, _ in plan.anomalies["decreasing"]
    }
    extra_spikes = set(opened["spike"]) - set(injected["spike"])
    assert extra_spikes <= after_drop
    opened["spike"] = sorted(set(opened["spike"]) - extra_spikes)
    assert opened == injected
    short_gap_days = sum((b - a).days + 1 for _, a, b in plan.anomalies["missing"] if (b - a).days + 1 <= 3)
    assert (
        Reading.objects.filter(quality="estimated").values("day", "meter").distinct().count()
        == short_gap_days
    )

    # curves: the sample accounts and every transformer with active accounts
    end = frame["day"].max()
    start = end - dt.timedelta(days=29)
    accounts = curves_read(keys=sorted(active), start=start, end=end)
    assert accounts["key"].n_unique() == 20
    assert accounts.height == 20 * 30 * 96
    served = set(
        Transformer.objects.filter(service_points__accounts__status="active").values_list("id", flat=True)
    )
    transformers = transformer_curves_read(keys=sorted(served), start=start, end=end)
    assert set(transformers["key"].unique().to_list()) == served


@pytest.mark.django_db
def test_readings_months_zero_skips_the_metering_demo(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.DATA_DIR = tmp_path
    out = StringIO()
    call_command("seed", "--customers", "100", "--seed", "2", "--readings-months", "0", stdout=out)
    assert "Metering:" not in out.getvalue()
    assert not Meter.objects.exists()
    assert not Reading.objects.exists()
