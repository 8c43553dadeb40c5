"""Reading the London smart-meter data (Low Carbon London, ``../shared/data/london_smart_meters``).

The daily data is one Parquet file, ``daily.parquet``, long layout (customer_id, date,
kwh, n_halfhours, tariff, acorn, acorn_grouped, block), sorted by customer and date.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

DAILY_FILE = "daily.parquet"


def load_london_daily(source_dir: str | Path) -> pl.DataFrame:
    """The daily kWh of every household as (customer_id, date, kwh), sorted.

    Missing values, as the dataset's README describes them:

    - a day with null kwh (30 rows, all with ``n_halfhours == 0``: no reading arrived) is
      dropped, so it is a missing day like the 4,088 days absent inside households' spans;
    - missing days are not filled: inventing consumption would hide the gaps a theft
      model should see;
    - partial days (``n_halfhours < 48``, 1.17 %) keep the kWh of the half-hours that
      arrived, and days with kwh 0 (real zeros or outages) are kept as they are.

    Raises ``FileNotFoundError`` when ``source_dir`` has no ``daily.parquet``.
    """
    path = Path(source_dir) / DAILY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (expected the London daily data)")
    return (
        pl.scan_parquet(path)
        .select(
            pl.col("customer_id").cast(pl.String),
            pl.col("date").cast(pl.Date),
            pl.col("kwh").cast(pl.Float64),
        )
        .filter(pl.col("kwh").is_not_null() & pl.col("kwh").is_not_nan())
        .sort("customer_id", "date")
        .collect()
    )
