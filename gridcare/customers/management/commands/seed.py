"""``gridcare seed --customers N --seed S``: fill an empty database with the demo county.

The county comes from :func:`gridcare.customers.demo.generate_county` (pure Python,
deterministic); this command only writes it: bulk inserts table by table inside one
transaction (all or nothing), 户号 and contract numbers from one reserved block of their
sequences (so later 立户 at the counter continues after them), the demo logins, and ONE
audit event summarising the run instead of one per row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import polars as pl
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction

from gridcare.core.audit import audit_record
from gridcare.core.bulk import insert_new_rows
from gridcare.core.ids import next_number
from gridcare.core.roles import CUSTOMER, STAFF_ROLES
from gridcare.customers.demo import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    DEMO_PASSWORD,
    PORTAL_USERNAMES,
    STAFF_NAMES,
    County,
    generate_county,
)
from gridcare.customers.models import (
    Account,
    Contract,
    Customer,
    Feeder,
    ServicePoint,
    Substation,
    Transformer,
)
from gridcare.customers.services import (
    ACCOUNT_SEQUENCE,
    CONTRACT_SEQUENCE,
    account_number_format,
    contract_number_format,
)

Row = TypeVar("Row")
M = TypeVar("M", bound=models.Model)

SEED_ACTOR = "gridcare seed"


class Command(BaseCommand):
    help = (
        "Fill an empty database with a deterministic demo county (topology, customers, "
        "accounts, contracts) and the demo logins."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--customers", type=int, default=5000, help="How many customers the county has (default 5000)."
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=1,
            help="Random seed: the same seed gives the same county (default 1).",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing (exit 0) when the database already has customers.",
        )
        parser.add_argument(
            "--batch-size", type=int, default=4000, help="Rows per bulk insert round (default 4000)."
        )
        parser.add_argument(
            "--readings-months",
            type=int,
            default=13,
            help=(
                "Months of daily meter readings ending yesterday (default 13); 0 skips the "
                "metering demo (meters, readings, curves) altogether."
            ),
        )
        parser.add_argument(
            "--readings-all",
            action="store_true",
            help="Readings for every active account (default: the first 5000 only).",
        )
        parser.add_argument(
            "--curve-sample",
            type=int,
            default=200,
            help="Accounts that get 96-point load curves (default 200; every 台区 total meter gets them).",
        )
        parser.add_argument(
            "--billing-months",
            type=int,
            default=3,
            help="Billing runs of the last N complete months, with payments and the prepaid cycle "
            "(default 3; 0 skips billing; needs readings).",
        )

        parser.add_argument(
            "--no-inspection",
            dest="inspection",
            action="store_false",
            help="Skip the inspection demo (theft model, line loss, risk scores, plans, a case).",
        )
        parser.add_argument(
            "--workorder-days",
            type=int,
            default=30,
            help="Days of demo 95598 work orders ending now (default 30; 0 skips them).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        customers: int = options["customers"]
        seed: int = options["seed"]
        if customers < 1:
            raise CommandError("--customers must be at least 1.")
        if Customer.objects.exists():
            if options["if_empty"]:
                self.stdout.write("The database is already seeded (customers exist); nothing to do.")
                return
            raise CommandError(
                "The database already has customers; the demo county is only written into an "
                "empty archive. Use --if-empty to skip quietly, or start from a fresh database."
            )
        started = time.perf_counter()
        self.stdout.write(f"Generating the demo county: {customers} customers, seed {seed} …")
        county = generate_county(customers, seed)
        self.stdout.write(f"  generated in {time.perf_counter() - started:.1f} s")
        if connection.vendor == "sqlite":
            # A bigger page cache (about 256 MB) keeps the index B-trees of the big tables in
            # memory during the bulk load instead of spilling them to the WAL page by page.
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA cache_size = -262144")
        with transaction.atomic():
            summary = write_county(county, batch_size=options["batch_size"], progress=self._progress)
            metering = self._seed_metering(county, summary, seed, options)
            logins = create_demo_users(county, summary["customer_ids"])
            first_substation = Substation.objects.get(pk=summary["substation_ids"][0])
            audit_record(
                actor=SEED_ACTOR,
                obj=first_substation,
                action="seed.run",
                after={
                    "seed": seed,
                    "customers": customers,
                    **county.counts(),
                    "account_numbers": summary["account_numbers"],
                    "contract_numbers": summary["contract_numbers"],
                    **(
                        {"metering": {k: v for k, v in metering.items() if k != "seconds"}}
                        if metering
                        else {}
                    ),
                },
                reason="demo county",
            )
        seconds = time.perf_counter() - started
        counts = county.counts()
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {counts['customers']} customers, {counts['accounts']} accounts, "
                f"{counts['contracts']} contracts in {seconds:.1f} s "
                f"(户号 {summary['account_numbers'][0]}–{summary['account_numbers'][1]})."
            )
        )
        if metering:
            self._metering_summary(metering)
            billing_months = int(options.get("billing_months", 3))
            if billing_months > 0:
                from gridcare.billing.demo import seed_billing

                billed = time.perf_counter()
                self.stdout.write(f"Billing demo: {billing_months} months of runs, payments, prepaid …")
                seed_billing(months=billing_months, seed=seed, log=self.stdout.write)
                self.stdout.write(f"  billing demo in {time.perf_counter() - billed:.1f} s")
        if options.get("workorder_days", 30) > 0:
            from gridcare.workorders.demo import seed_workorders

            self.stdout.write("Work orders demo: teams, knowledge base, a month of 95598 traffic …")
            seed_workorders(seed=seed, days=int(options.get("workorder_days", 30)), log=self.stdout.write)
        if metering and options.get("inspection", True):
            from gridcare.inspection.demo import seed_inspection

            self.stdout.write(
                "Inspection demo: theft model, line loss, risk scores, plans, a worked task and case …"
            )
            seed_inspection(log=self.stdout.write)
        self.stdout.write("Demo logins:")
        for username, password, who in logins:
            self.stdout.write(f"  {username:<20} {password:<16} {who}")

    def _seed_metering(
        self, county: County, summary: dict[str, Any], seed: int, options: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The metering demo (gridcare.metering.demo_writer) on top of the written county."""
        months = int(options.get("readings_months", 13))
        if months <= 0:
            return None
        from gridcare.metering.demo_writer import seed_metering

        return seed_metering(
            county=county,
            account_ids=summary["account_ids"],
            service_point_ids=summary["service_point_ids"],
            transformer_ids=summary["transformer_ids"],
            seed=seed,
            months=months,
            curve_sample=int(options.get("curve_sample", 200)),
            readings_all=bool(options.get("readings_all", False)),
            progress=self._progress,
        )

    def _metering_summary(self, m: dict[str, Any]) -> None:
        capped = m["accounts_with_readings"] < m["active_accounts"]
        self.stdout.write(
            f"Metering: {m['meters']} meters, {m['readings']} readings {m['start']}–{m['end']} "
            f"for {m['accounts_with_readings']} of {m['active_accounts']} active accounts"
            + (" (capped: --readings-all for every account)" if capped else "")
            + f", {m['exceptions']} reading exceptions, {m['curve_values']} curve values "
            f"in {m['seconds']:.1f} s."
        )

    def _progress(self, label: str, done: int, total: int, final: bool = False, seconds: float = 0.0) -> None:
        if final:
            rate = done / seconds if seconds > 0 else 0.0
            self.stdout.write(f"  {label:<15} {done:>9} rows {seconds:7.1f} s {rate:>10.0f} rows/s")
        elif self.stdout.isatty():
            self.stdout.write(f"  {label:<15} {done:>9}/{total}", ending="\r")
            self.stdout.flush()


ProgressFn = Callable[..., None]


def _insert(
    model: type[M],
    rows: Sequence[Row],
    build: Callable[[Row], M],
    *,
    label: str,
    batch_size: int,
    progress: ProgressFn,
) -> list[int]:
    """Bulk-insert ``rows`` (built into model instances chunk by chunk); return the new ids.

    Each instance's fields are prepared for the database exactly as ``bulk_create`` would
    (``pre_save`` then ``get_db_prep_save``: auto_now dates, Decimal, JSON), but the rows go
    in through :func:`gridcare.core.bulk.insert_new_rows` (reserved ids, ``COPY`` on
    PostgreSQL, ``executemany`` on SQLite) instead of compiling an ORM INSERT per batch,
    which was most of the seed's time.
    """
    started = time.perf_counter()
    ids: list[int] = []
    total = len(rows)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = [f.column for f in fields]
    chunk = max(batch_size, 50_000)
    for start in range(0, total, chunk):
        objs = [build(row) for row in rows[start : start + chunk]]
        values: list[list[Any]] = [[] for _ in fields]
        for obj in objs:
            for i, f in enumerate(fields):
                values[i].append(f.get_db_prep_save(f.pre_save(obj, True), connection))
        frame = pl.DataFrame({col: _column(vals) for col, vals in zip(columns, values, strict=True)})
        ids.extend(insert_new_rows(table=model._meta.db_table, frame=frame))
        progress(label, len(ids), total)
    progress(label, total, total, final=True, seconds=time.perf_counter() - started)
    return ids


def _column(values: list[Any]) -> pl.Series:
    """One prepared column: ints and booleans as they are, everything else (Decimal, the
    database's date/datetime text or objects, strings) as exact text; None stays NULL."""
    if all(v is None or isinstance(v, bool | int) for v in values):
        return pl.Series(values)
    return pl.Series([None if v is None else str(v) for v in values], dtype=pl.String)


def write_county(
    county: County, *, batch_size: int = 4000, progress: ProgressFn | None = None
) -> dict[str, Any]:
    """Write ``county`` table by table; return ids and the reserved number ranges.

    Call inside a transaction. 户号 and contract numbers are reserved in one block each.
    """
    report: ProgressFn = progress or (lambda *a, **k: None)
    sub_ids = _insert(
        Substation,
        county.substations,
        lambda r: Substation(code=r.code, name=r.name, voltage_kv=r.voltage_kv),
        label="substations",
        batch_size=batch_size,
        progress=report,
    )
    feeder_ids = _insert(
        Feeder,
        county.feeders,
        lambda r: Feeder(code=r.code, name=r.name, substation_id=sub_ids[r.substation]),
        label="feeders",
        batch_size=batch_size,
        progress=report,
    )
    trans_ids = _insert(
        Transformer,
        county.transformers,
        lambda r: Transformer(
            code=r.code,
            name=r.name,
            feeder_id=feeder_ids[r.feeder],
            capacity_kva=r.capacity_kva,
            area_type=r.area_type,
            location=r.location,
            is_dedicated=r.is_dedicated,
        ),
        label="transformers",
        batch_size=batch_size,
        progress=report,
    )
    sp_ids = _insert(
        ServicePoint,
        county.service_points,
        lambda r: ServicePoint(
            address=r.address,
            transformer_id=trans_ids[r.transformer],
            latitude=r.latitude,
            longitude=r.longitude,
        ),
        label="service points",
        batch_size=batch_size,
        progress=report,
    )
    customer_ids = _insert(
        Customer,
        county.customers,
        lambda r: Customer(
            kind=r.kind,
            name=r.name,
            id_number=r.id_number,
            credit_code=r.credit_code,
            id_tail=r.id_tail,
            mobile=r.mobile,
            contact_person=r.contact_person,
            postal_address=r.postal_address,
        ),
        label="customers",
        batch_size=batch_size,
        progress=report,
    )
    n_accounts = len(county.accounts)
    first_account = next_number(ACCOUNT_SEQUENCE, count=n_accounts)
    account_ids = _insert(
        Account,
        county.accounts,
        lambda r: Account(
            number=account_number_format(first_account + r.number_rank),
            customer_id=customer_ids[r.customer],
            service_point_id=sp_ids[r.service_point],
            customer_class=r.customer_class,
            voltage_level=r.voltage_level,
            tariff_code=r.tariff_code,
            status=r.status,
            importance=r.importance,
            is_prepaid=r.is_prepaid,
            opened_on=r.opened_on,
            closed_on=r.closed_on,
            suspended_on=r.suspended_on,
        ),
        label="accounts",
        batch_size=batch_size,
        progress=report,
    )
    accounts = county.accounts
    first_contract = next_number(CONTRACT_SEQUENCE, count=len(county.contracts))
    _insert(
        Contract,
        county.contracts,
        lambda r: Contract(
            number=contract_number_format(
                first_contract + accounts[r.account].number_rank, year=r.start_date.year
            ),
            account_id=account_ids[r.account],
            kind=r.kind,
            capacity_kva=r.capacity_kva,
            start_date=r.start_date,
            end_date=r.end_date,
            signed_on=r.signed_on,
            status=r.status,
            basic_charge_by=r.basic_charge_by,
            contracted_demand_kw=r.contracted_demand_kw,
        ),
        label="contracts",
        batch_size=batch_size,
        progress=report,
    )
    return {
        "substation_ids": sub_ids,
        "transformer_ids": trans_ids,
        "service_point_ids": sp_ids,
        "customer_ids": customer_ids,
        "account_ids": account_ids,
        "account_numbers": [
            account_number_format(first_account),
            account_number_format(first_account + n_accounts - 1),
        ],
        "contract_numbers": [first_contract, first_contract + len(county.contracts) - 1],
    }


def create_demo_users(county: County, customer_ids: Sequence[int]) -> list[tuple[str, str, str]]:
    """Demo logins: one staff user per role, the superuser ``admin`` and three portal customers.

    Users that already exist are left alone. The demo password is hashed once and the hash
    reused, so seeding stays fast with the (slow on purpose) Argon2 hasher.
    Returns (username, password, description) for the login list printed after the seed.
    """
    User = get_user_model()
    wanted = [*STAFF_ROLES, ADMIN_USERNAME, *PORTAL_USERNAMES]
    existing = set(User.objects.filter(username__in=wanted).values_list("username", flat=True))
    demo_hash = make_password(DEMO_PASSWORD)
    groups = {g.name: g for g in Group.objects.filter(name__in=[*STAFF_ROLES, CUSTOMER])}
    logins: list[tuple[str, str, str]] = []

    def add_to_group(user: Any, role: str) -> None:
        group = groups.get(role)
        if group is None:
            group, _ = Group.objects.get_or_create(name=role)
            groups[role] = group
        user.groups.add(group)

    if ADMIN_USERNAME not in existing:
        User.objects.create(
            username=ADMIN_USERNAME,
            password=make_password(ADMIN_PASSWORD),
            first_name="管理员",
            is_staff=True,
            is_superuser=True,
        )
    logins.append((ADMIN_USERNAME, ADMIN_PASSWORD, "superuser (系统管理员)"))
    for role, label in STAFF_ROLES.items():
        if role not in existing:
            last, first = STAFF_NAMES.get(role, ("演", "示"))
            user = User.objects.create(username=role, password=demo_hash, first_name=first, last_name=last)
            add_to_group(user, role)
        logins.append((role, DEMO_PASSWORD, str(label)))
    for username, index in zip(PORTAL_USERNAMES, county.portal_customers, strict=False):
        if username not in existing:
            customer = Customer.objects.get(pk=customer_ids[index])
            if customer.user_id is None:
                user = User.objects.create(
                    username=username,
                    password=demo_hash,
                    last_name=customer.name[:1],
                    first_name=customer.name[1:150],
                )
                add_to_group(user, CUSTOMER)
                Customer.objects.filter(pk=customer.pk).update(user=user)
        logins.append((username, DEMO_PASSWORD, "portal customer (网上营业厅客户)"))
    return logins
