"""Pure billing computation (no Django imports): the rating engine, late fees, allocation.

Contract of the rating engine (``gridcare.billing.engine.rating``) — every caller (quote,
billing run, corrections, prepaid daily charges, the benchmark) uses exactly this:

``rate(periods: pl.DataFrame, catalogue: Catalogue) -> Rating``

``periods`` — one row per account and billing period (``PERIOD_SCHEMA``):
    account_id Int64; tariff_code String; period_start Date; period_end Date (inclusive);
    total_wh Int64 (consumption in Wh = kWh × 1000, multiplier applied);
    sharp_wh, peak_wh, flat_wh, valley_wh, deep_valley_wh Int64 (null: register absent);
    reactive_varh Int64 (null: no reactive register); max_demand_w Int64 (null);
    capacity_va Int64 (null; contracted capacity, kVA × 1000); basic_charge_by String
    ("capacity" | "demand" | null); ytd_wh_before Int64 (kWh × 1000 billed this calendar
    year before period_start, for annual tiers; 0 otherwise); service_days Int64 (null: the
    whole period; fewer days pro-rate the basic charge).

``catalogue`` — :class:`gridcare.billing.engine.catalogue.Catalogue`: every tariff
version (code, kind, id, effective_from, params), the agency purchase prices by month and
price group, and the power-factor tables; built from the database by
``gridcare.billing.services.catalogue.catalogue_load()`` or by hand in tests.

``Rating`` — three frames:
    lines: account_id Int64, seq Int32 (1…n per account), kind String (BillLineKind value),
           item String (stable code, e.g. energy_tier1, energy_peak, basic_capacity,
           pf_adjustment, pass_transmission, fund), wh Int64 (null), unit_price_micro Int64
           (null; 1e-6 yuan per kWh, per kVA·month or per kW·month), amount_fen Int64,
           tariff_version_id Int64;
    totals: account_id Int64, wh Int64, total_fen Int64 (sum of the non-INFO lines);
    errors: account_id Int64, reason String (not rated: unknown tariff, no version or no
           agency price in force, a TOU tariff without its registers, …).

Amounts are integer fen, rounded per line half-up; unit prices are micro-yuan.

Additions to the contract (nothing renamed): every frame carries ``row`` (the input row's
index, so one frame may hold several periods of an account; ``seq`` runs 1…n per row and
lines are not sorted: order by ``row, seq``); lines carry ``line_from``/``line_to`` (null
when the line covers the whole period), ``qty``/``days``/``month_days`` on basic-charge
lines and ``pf_centi``/``pf_percent_centi`` on power-factor lines; totals carry the period
dates. ``periods`` may carry ``basic_parts`` (``rating.BASIC_PARTS``, null on nearly
every row): the contracts of a two-part period whose contract changes, each billed its
basic charge for its own days; and ``pf_standard`` (String, ``rating.PF_STANDARD_COLUMN``):
the power-factor standard of each period's account (null: not adjusted;
``rating.pf_standard_expr`` gives it from class, voltage and capacity) — when the column is
there it decides for every row, single-part and two-part alike, instead of the versions'
``pf_standard``. The rules behind each line are in docs/billing-tariffs.md.
"""
