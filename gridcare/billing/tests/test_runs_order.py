"""Months are billed in order: an account whose earlier month is still without an issued bill
(held, released but not re-run, sent back at review, or a draft whose run is not issued)
is held in the later months' runs, so the year-to-date kWh of annual tiers (年阶梯) always
include the earlier month as it was issued."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from gridcare.billing.choices import BillStatus, HoldStatus, RunStatus
from gridcare.billing.models import Bill, BillingHold, BillReview
from gridcare.billing.services import runs
from gridcare.billing.services.runs import (
    bill_review_decide,
    billing_hold_release,
    billing_run,
    billing_run_issue,
)
from gridcare.billing.tests.factories import BillFactory
from gridcare.billing.tests.runs_fixtures import OCT, billable_account, open_exception, put_reading
from gridcare.core.errors import Conflict
from gridcare.customers.models import Account
from gridcare.customers.services import account_update
from gridcare.metering.models import Meter

pytestmark = pytest.mark.django_db

SEP = dt.date(2026, 9, 1)
EARLIER = "Earlier month not billed (2026-09)"


def two_months(*, tariff_code: str, sep: str, oct: str, nov: str) -> tuple[Account, Meter]:  # noqa: A002
    """An account with its readings of 1 September, 1 October and 1 November."""
    acct, meter = billable_account(tariff_code=tariff_code, start=oct, end=nov)
    put_reading(meter, "total", SEP, sep)
    return acct, meter


def amounts(account: Account) -> dict[dt.date, Decimal]:
    return dict(Bill.objects.filter(account=account).values_list("period", "amount"))


def test_a_held_month_holds_the_later_months_until_it_is_billed() -> None:
    # given annual- and monthly-tier accounts held in September, and their twins without
    # an exception, billed September then October as usual
    annual, annual_meter = two_months(tariff_code="HEBS-RES-LV", sep="0", oct="2000", nov="2300")
    monthly, monthly_meter = two_months(tariff_code="HEBS-RES-LV-M", sep="0", oct="200", nov="500")
    annual_twin, _ = two_months(tariff_code="HEBS-RES-LV", sep="0", oct="2000", nov="2300")
    monthly_twin, _ = two_months(tariff_code="HEBS-RES-LV-M", sep="0", oct="200", nov="500")
    for acct, meter in ((annual, annual_meter), (monthly, monthly_meter)):
        open_exception(acct, meter, day_from=dt.date(2026, 9, 3), day_to=dt.date(2026, 9, 4))
    sep_run = billing_run(period="2026-09", actor="clerk")
    billing_run_issue(run_id=sep_run.pk, actor="clerk")

    # when October is run while September is still held
    oct_run = billing_run(period="2026-10", actor="clerk")

    # then October waits for September
    assert set(Bill.objects.filter(period=OCT).values_list("account_id", flat=True)) == {
        annual_twin.pk,
        monthly_twin.pk,
    }
    holds = dict(BillingHold.objects.filter(run=oct_run).values_list("account_id", "reason"))
    assert holds == {annual.pk: EARLIER, monthly.pk: EARLIER}
    assert oct_run.accounts_held == 2
    billing_run_issue(run_id=oct_run.pk, actor="clerk")

    # when September's holds are released and September, then October, are run again
    for hold in BillingHold.objects.filter(run=sep_run):
        billing_hold_release(hold_id=hold.pk, actor="clerk", note="checked on site")
    sep_run = billing_run(period="2026-09", actor="clerk")
    assert sep_run.status == RunStatus.REVIEW  # an issued month runs again for the catch-up
    billing_run_issue(run_id=sep_run.pk, actor="clerk")
    oct_run = billing_run(period="2026-10", actor="clerk")

    # then each account is billed as its twin, billed in order: October's annual tiers
    # count September's 2,000 kWh (160 kWh at 0.52, 140 at 0.57)
    assert amounts(annual) == amounts(annual_twin) == {SEP: Decimal("1040.00"), OCT: Decimal("163.00")}
    assert amounts(monthly) == amounts(monthly_twin) == {SEP: Decimal("105.00"), OCT: Decimal("167.00")}
    assert oct_run.accounts_held == 0
    for hold in BillingHold.objects.filter(run=oct_run):
        assert (hold.status, hold.released_by) == (HoldStatus.RELEASED, runs.SYSTEM_ACTOR)


def test_a_month_sent_back_at_review_holds_the_next_month() -> None:
    # given September billed at zero (a wrong 1 October reading), flagged and sent back
    acct, meter = two_months(tariff_code="HEBS-RES-LV", sep="0", oct="0", nov="2300")
    sep_run = billing_run(period="2026-09", actor="clerk")
    review = BillReview.objects.get(bill__account=acct)
    bill_review_decide(review_id=review.pk, actor="clerk", decision="send_back", note="re-read")
    hold = BillingHold.objects.get(run=sep_run, account=acct)
    assert (hold.status, hold.reason) == (HoldStatus.HELD, "Sent back at review: re-read")
    sep_run.refresh_from_db()
    assert sep_run.accounts_held == 1

    # when October is run before September is billed again
    put_reading(meter, "total", OCT, "2000", quality="edited")
    oct_run = billing_run(period="2026-10", actor="clerk")

    # then October is held; once September is billed (and issued), October counts its kWh
    assert not Bill.objects.filter(account=acct, period=OCT).exists()
    assert BillingHold.objects.get(run=oct_run, account=acct).reason == EARLIER
    billing_run_issue(run_id=billing_run(period="2026-09", actor="clerk").pk, actor="clerk")
    billing_run(period="2026-10", actor="clerk")
    assert amounts(acct) == {SEP: Decimal("1040.00"), OCT: Decimal("163.00")}


def test_the_hold_of_an_earlier_month_cannot_be_released() -> None:
    acct, meter = two_months(tariff_code="HEBS-RES-LV", sep="0", oct="2000", nov="2300")
    open_exception(acct, meter, day_from=dt.date(2026, 9, 3), day_to=dt.date(2026, 9, 4))
    billing_run(period="2026-09", actor="clerk")
    oct_run = billing_run(period="2026-10", actor="clerk")
    hold = BillingHold.objects.get(run=oct_run, account=acct)

    with pytest.raises(Conflict, match="earlier month"):
        billing_hold_release(hold_id=hold.pk, actor="clerk")

    hold.refresh_from_db()
    assert (hold.status, hold.released_by) == (HoldStatus.HELD, "")
    assert not Bill.objects.filter(account=acct).exists()


def test_an_account_billed_in_the_earlier_month_is_not_held() -> None:
    # given September held, then billed once its exception was accepted, and issued
    acct, meter = two_months(tariff_code="HEBS-RES-LV", sep="0", oct="2000", nov="2300")
    open_exception(acct, meter, day_from=dt.date(2026, 9, 3), day_to=dt.date(2026, 9, 4))
    billing_run(period="2026-09", actor="clerk")
    acct.reading_exceptions.update(status="accepted")
    billing_run_issue(run_id=billing_run(period="2026-09", actor="clerk").pk, actor="clerk")

    # when October is run, then it is billed at once
    oct_run = billing_run(period="2026-10", actor="clerk")

    assert amounts(acct) == {SEP: Decimal("1040.00"), OCT: Decimal("163.00")}
    assert not BillingHold.objects.filter(run=oct_run).exists()


def test_a_month_that_no_longer_bills_the_account_does_not_hold_the_later_months() -> None:
    # given an account billed in August and held in September
    aug = dt.date(2026, 8, 1)
    acct, meter = billable_account(tariff_code="HEBS-RES-LV-M", start="200", end="500")
    put_reading(meter, "total", aug, "0")
    put_reading(meter, "total", SEP, "100")
    billing_run_issue(run_id=billing_run(period="2026-08", actor="clerk").pk, actor="clerk")
    open_exception(acct, meter, day_from=dt.date(2026, 9, 3), day_to=dt.date(2026, 9, 4))
    billing_run(period="2026-09", actor="clerk")
    # when the clerk records it as 费控 (prepaid) for all of September and postpaid again
    # from October: September has nothing left to bill, its hold is history
    for is_prepaid, since in ((True, SEP), (False, OCT)):
        acct.refresh_from_db()
        account_update(
            actor="clerk",
            account_id=acct.pk,
            version=acct.version,
            is_prepaid=is_prepaid,
            billing_mode_since=since,
        )
    acct.reading_exceptions.update(status="accepted")
    billing_run(period="2026-09", actor="clerk")
    assert not Bill.objects.filter(account=acct, period=SEP).exists()

    # then October bills it (before: held with "Earlier month not billed", release refused,
    # and so every month after)
    oct_run = billing_run(period="2026-10", actor="clerk")
    assert not BillingHold.objects.filter(run=oct_run, account=acct, status=HoldStatus.HELD).exists()
    assert Bill.objects.filter(account=acct, period=OCT).exists()


def test_a_draft_bill_of_the_earlier_month_holds_the_next_month_until_it_is_issued() -> None:
    # given September billed as a draft: its run is in review, not issued (the bill may
    # still be sent back at review and re-rated with other kWh)
    acct, _meter = two_months(tariff_code="HEBS-RES-LV", sep="0", oct="2000", nov="2300")
    sep_run = billing_run(period="2026-09", actor="clerk")
    assert sep_run.status == RunStatus.REVIEW
    assert Bill.objects.get(account=acct, period=SEP).status == BillStatus.DRAFT

    # when October is run before September is issued
    oct_run = billing_run(period="2026-10", actor="clerk")

    # then October waits for September
    assert not Bill.objects.filter(account=acct, period=OCT).exists()
    hold = BillingHold.objects.get(run=oct_run, account=acct)
    assert (hold.status, hold.reason) == (HoldStatus.HELD, EARLIER)
    assert oct_run.accounts_held == 1

    # when September is issued and October run again
    billing_run_issue(run_id=sep_run.pk, actor="clerk")
    oct_run = billing_run(period="2026-10", actor="clerk")

    # then October is billed, counting September's 2,000 kWh, and its hold is released
    assert amounts(acct) == {SEP: Decimal("1040.00"), OCT: Decimal("163.00")}
    hold.refresh_from_db()
    assert (hold.status, hold.released_by) == (HoldStatus.RELEASED, runs.SYSTEM_ACTOR)
    assert oct_run.accounts_held == 0


def test_an_approved_draft_of_the_earlier_month_still_holds_the_next_month() -> None:
    # given September's bill flagged (zero kWh on an active account) and the flag approved:
    # still a draft until the run is issued
    acct, _meter = two_months(tariff_code="HEBS-RES-LV", sep="0", oct="0", nov="300")
    sep_run = billing_run(period="2026-09", actor="clerk")
    review = BillReview.objects.get(bill__account=acct)
    bill_review_decide(review_id=review.pk, actor="clerk", decision="approve")

    # when October is run, then it waits for September's issue
    oct_run = billing_run(period="2026-10", actor="clerk")
    assert BillingHold.objects.get(run=oct_run, account=acct).reason == EARLIER

    billing_run_issue(run_id=sep_run.pk, actor="clerk")
    billing_run(period="2026-10", actor="clerk")
    assert amounts(acct) == {SEP: Decimal("0.00"), OCT: Decimal("156.00")}


def test_a_void_bill_does_not_bill_the_earlier_month() -> None:
    # given an account held in September whose September bill is void (作废)
    acct, meter = two_months(tariff_code="HEBS-RES-LV", sep="0", oct="2000", nov="2300")
    open_exception(acct, meter, day_from=dt.date(2026, 9, 3), day_to=dt.date(2026, 9, 4))
    sep_run = billing_run(period="2026-09", actor="clerk")
    BillFactory(
        account=acct,
        run=sep_run,
        period=SEP,
        period_start=SEP,
        period_end=dt.date(2026, 9, 30),
        status=BillStatus.VOID,
    )

    # then October still counts September as not billed
    earlier = runs.earlier_months_unbilled(period=OCT, lo=acct.pk, hi=acct.pk)
    assert earlier.rows() == [(acct.pk, EARLIER)]
