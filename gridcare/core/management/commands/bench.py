"""``gridcare bench <benchmark> …``: measure GridCare on the current database.

Every benchmark prints human-readable figures and ends with ONE JSON line
(``{"bench": "<name>", …, "seconds": …, "database": "sqlite"}``) that scripts and CI can
collect. Benchmarks register themselves in :data:`BENCHMARKS`; later issues add theirs
(billing run, readings import, …) with a name, an ``add_arguments`` and a ``run`` function.

``gridcare bench seed --customers N [--seed S]`` writes the demo county into the current
database, which must be empty (point ``GRIDCARE_VAR_DIR`` or ``DATABASE_URL`` at a fresh
one), and reports seconds, rows per table and rows per second.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection


@dataclass(frozen=True)
class Benchmark:
    """One ``gridcare bench`` sub-command."""

    help: str
    add_arguments: Callable[[CommandParser], None]
    run: Callable[[BaseCommand, dict[str, Any]], dict[str, Any]]


def _database_label() -> str:
    """``sqlite`` or ``postgresql`` (the Django vendor name of the current database)."""
    return str(connection.vendor)


# --- bench seed ---------------------------------------------------------------------------


def _seed_arguments(parser: CommandParser) -> None:
    parser.add_argument(
        "--customers", type=int, default=200_000, help="Customers in the demo county (default 200000)."
    )
    parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")


def _seed_run(command: BaseCommand, options: dict[str, Any]) -> dict[str, Any]:
    """Seed the demo county into the empty current database and count what was written."""
    from gridcare.customers.models import (
        Account,
        Contract,
        Customer,
        Feeder,
        ServicePoint,
        Substation,
        Transformer,
    )

    tables: dict[str, Any] = {
        "substations": Substation,
        "feeders": Feeder,
        "transformers": Transformer,
        "service_points": ServicePoint,
        "customers": Customer,
        "accounts": Account,
        "contracts": Contract,
    }
    non_empty = [name for name, model in tables.items() if model.objects.exists()]
    if non_empty:
        raise CommandError(
            "bench seed writes into an EMPTY database only, and this one already has "
            f"{', '.join(non_empty)}. Point GRIDCARE_VAR_DIR (SQLite) or DATABASE_URL at a "
            "fresh database and run `gridcare migrate` first."
        )
    customers = int(options["customers"])
    seed = int(options["seed"])
    started = time.perf_counter()
    call_command(
        "seed", customers=customers, seed=seed, stdout=getattr(command.stdout, "_out", command.stdout)
    )
    seconds = time.perf_counter() - started
    counts = {name: model.objects.count() for name, model in tables.items()}
    rows = sum(counts.values())
    command.stdout.write("")
    command.stdout.write(f"bench seed on {_database_label()}: {customers} customers, seed {seed}")
    for name, count in counts.items():
        command.stdout.write(f"  {name:<15} {count:>10}")
    command.stdout.write(f"  {'total rows':<15} {rows:>10}")
    command.stdout.write(
        f"  {seconds:.1f} s, {rows / seconds:,.0f} rows/s, {customers / seconds:,.0f} customers/s"
    )
    return {
        "customers": customers,
        "seed": seed,
        "seconds": round(seconds, 2),
        **{name: count for name, count in counts.items() if name != "customers"},
        "rows": rows,
        "rows_per_second": round(rows / seconds),
    }


BENCHMARKS: dict[str, Benchmark] = {
    "seed": Benchmark(
        help="Write the demo county into the empty current database and time it.",
        add_arguments=_seed_arguments,
        run=_seed_run,
    ),
}


class Command(BaseCommand):
    help = "Run a benchmark on the current database; ends with one JSON line of figures."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True, title="benchmarks")
        for name, bench in BENCHMARKS.items():
            bench.add_arguments(sub.add_parser(name, help=bench.help))

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["benchmark"]
        bench = BENCHMARKS.get(name)
        if bench is None:  # pragma: no cover - argparse rejects unknown names first
            raise CommandError(f"Unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}.")
        figures = bench.run(self, options)
        result = {"bench": name, **figures, "database": _database_label()}
        self.stdout.write(json.dumps(result, ensure_ascii=False))
