"""Given state for the bills tests: issued bills with readings, lines (with an INFO line),
payments with allocations, decided corrections and meter-verification 退补 records. Rows
are written directly (given state); behaviour is exercised through the services."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

from django.utils import timezone

from gridcare.billing.choices import AdjustmentKind, BillLineKind, BillStatus, DocumentStatus, PaymentChannel
from gridcare.billing.models import Bill, BillAdjustment, BillLine, Payment, PaymentAllocation
from gridcare.billing.tests.factories import TZ, BillFactory
from gridcare.metering.models import Adjustment

_seq = itertools.count(1)

__all__ = ["allocate", "decided_adjustment", "meter_adjustment", "notice_bill", "pay"]


def notice_bill(
    *,
    account: Any = None,
    period: dt.date = dt.date(2026, 10, 1),
    kwh: str = "100.000",
    amount: str = "52.00",
    tariff_code: str = "HEBS-RES-LV-M",
    status: str = BillStatus.ISSUED,
    due_date: dt.date = dt.date(2026, 11, 20),
    run: Any = None,
    readings: dict[str, Any] | None = None,
) -> Bill:
    """A bill of ``kwh`` at the first-tier 0.52 yuan (one energy line) with the funds inside
    the price as an INFO line, and the readings used (one total register)."""
    start = period.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    fields: dict[str, Any] = {
        "period": start,
        "period_start": start,
        "period_end": end,
        "tariff_code": tariff_code,
        "kwh": Decimal(kwh),
        "amount": Decimal(amount),
        "status": BillStatus.DRAFT,
        "readings": {
            "total": {
                "meter": "M0001",
                "start": "1000.000",
                "end": str(Decimal("1000.000") + Decimal(kwh)),
                "multiplier": "1.00",
                "kwh": kwh,
            }
        },
    }
    if account is not None:
        fields["account"] = account
    if run is not None:
        fields["run"] = run
    if readings is not None:
        fields["readings"] = {**fields["readings"], **readings}
    bill = BillFactory(**fields)
    BillLine.objects.create(
        bill=bill,
        seq=1,
        kind=BillLineKind.ENERGY,
        item="energy_tier1",
        kwh=Decimal(kwh),
        unit_price=Decimal("0.520000"),
        amount=Decimal(amount),
    )
    BillLine.objects.create(
        bill=bill,
        seq=2,
        kind=BillLineKind.INFO,
        item="fund",
        kwh=Decimal(kwh),
        unit_price=Decimal("0.008900"),
        amount=(Decimal(kwh) * Decimal("0.0089")).quantize(Decimal("0.01")),
    )
    if status == BillStatus.ISSUED:
        # Issue it the way a run does: lines first, then the status (the trigger guards after).
        Bill.objects.filter(pk=bill.pk).update(
            status=BillStatus.ISSUED,
            issued_at=dt.datetime.combine(due_date - dt.timedelta(days=15), dt.time(9), tzinfo=TZ),
            due_date=due_date,
        )
        bill.refresh_from_db()
    return bill


def pay(bill: Bill, amount: str, *, late_fee: str = "0", reversed: bool = False) -> PaymentAllocation:
    """A counter payment of ``amount`` (+ late fee) allocated to ``bill``."""
    n = next(_seq)
    total = Decimal(amount) + Decimal(late_fee)
    payment = Payment.objects.create(
        number=f"SK{n:010d}",
        account=bill.account,
        channel=PaymentChannel.COUNTER_CASH,
        amount=total,
        received_at=timezone.now(),
        idempotency_key=f"test-{n}",
        status="reversed" if reversed else "posted",
        posted_by="test",
        reversed_at=timezone.now() if reversed else None,
    )
    return allocate(payment, bill, amount, late_fee=late_fee, reversed=reversed)


def allocate(
    payment: Payment, bill: Bill, amount: str, *, late_fee: str = "0", reversed: bool = False
) -> PaymentAllocation:
    return PaymentAllocation.objects.create(
        payment=payment,
        bill=bill,
        amount=Decimal(amount),
        late_fee=Decimal(late_fee),
        created_at=timezone.now(),
        reversed=reversed,
    )


def decided_adjustment(
    bill: Bill, amount: str, *, status: str = DocumentStatus.APPROVED, due_date: dt.date | None = None
) -> BillAdjustment:
    """A 退补 document of ``amount`` (negative: refund) already decided; an approved
    back-billing is due on ``due_date`` (default: the bill's due date)."""
    n = next(_seq)
    value = Decimal(amount)
    if due_date is None and status == DocumentStatus.APPROVED and value > 0:
        due_date = bill.due_date
    return BillAdjustment.objects.create(
        number=f"TBF{n:08d}",
        bill=bill,
        kind=AdjustmentKind.REFUND if value < 0 else AdjustmentKind.BACKBILL,
        amount=value,
        reason="test",
        status=status,
        requested_by="a",
        requested_at=timezone.now(),
        decided_by="b" if status != DocumentStatus.PENDING else "",
        decided_at=timezone.now() if status != DocumentStatus.PENDING else None,
        due_date=due_date,
    )


def meter_adjustment(account: Any, *, error_pct: str, start: dt.date, end: dt.date) -> Adjustment:
    """An open metering 退补 record of ``account``'s meter (installed through the services)."""
    from gridcare.metering.tests.readings_fixtures import installed_meter

    meter = installed_meter(f"MA{next(_seq):05d}", account=account, installed_on=dt.date(2026, 1, 1))
    error = Decimal(error_pct)
    return Adjustment.objects.create(
        account=account,
        meter=meter,
        direction="refund" if error > 0 else "back_bill",
        error_pct=error,
        period_start=start,
        period_end=end,
        rule="test",
    )
