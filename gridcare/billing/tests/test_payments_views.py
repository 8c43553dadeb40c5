"""Collection console pages: permission matrix on every page, the counter flow (a
double-click posts once), receipt, reversal, aging report and Excel, waivers, batches."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gridcare.billing.choices import DocumentStatus, PaymentStatus
from gridcare.billing.models import LateFeeWaiver, Payment
from gridcare.billing.selectors.bills import bill_outstanding
from gridcare.billing.services.late_fees import late_fee_waiver_request
from gridcare.billing.services.payments import payment_post
from gridcare.billing.services.withholding import withholding_export
from gridcare.billing.tests.factories_payments import ensure_policy, overdue_bill
from gridcare.customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _policy(db: None) -> None:
    ensure_policy()


@pytest.fixture
def payment() -> Payment:
    account = AccountFactory()
    overdue_bill(account=account, period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2099, 1, 1))
    return payment_post(
        actor="t", account_id=account.pk, amount="60.00", channel="counter_cash", idempotency_key="v1"
    )


def page_urls(payment: Payment) -> dict[str, tuple[str, str]]:
    """name → (url, permission a hotline agent lacks or has)."""
    return {
        "payments": reverse("billing:payments"),
        "counter": reverse("billing:payments_counter"),
        "receipt": reverse("billing:payments_receipt", args=[payment.pk]),
        "reverse": reverse("billing:payments_reverse", args=[payment.pk]),
        "aging": reverse("billing:payments_aging"),
        "waivers": reverse("billing:payments_waivers"),
        "withholding": reverse("billing:payments_withholding"),
    }


# role → pages it may open (GET)
MATRIX = {
    "counter_clerk": {"payments", "counter", "receipt", "aging", "waivers", "withholding"},
    "hotline_agent": {"payments", "receipt", "aging", "waivers", "withholding"},
    "service_manager": {"payments", "receipt", "reverse", "aging", "waivers", "withholding"},
    "metering_tech": set(),
    "inspector": set(),
}


@pytest.mark.parametrize("role", sorted(MATRIX))
def test_permission_matrix(staff_client: Any, payment: Payment, role: str) -> None:
    client = staff_client(roles=[role])
    for name, url in page_urls(payment).items():
        expected = 200 if name in MATRIX[role] else 403
        assert client.get(url).status_code == expected, (role, name)


def test_anonymous_goes_to_login_and_customers_are_refused(
    client: Client, customer_client: Any, payment: Payment
) -> None:
    anonymous = Client()
    for url in page_urls(payment).values():
        resp = anonymous.get(url)
        assert resp.status_code == 302
        assert "login" in resp["Location"]
    # a customer, even for their own payment, never opens console pages
    own = payment_post(
        actor="t",
        account_id=customer_client.account.pk,
        amount="5.00",
        channel="wechat",
        idempotency_key="own",
    )
    for url in [*page_urls(payment).values(), reverse("billing:payments_receipt", args=[own.pk])]:
        assert customer_client.get(url).status_code == 403
    resp = customer_client.post(
        reverse("billing:payments_counter"),
        {"account": customer_client.account.number, "key": "x", "amount": "1.00", "channel": "counter_cash"},
    )
    assert resp.status_code == 403
    assert Payment.objects.filter(account=customer_client.account).count() == 1


def test_counter_flow_double_click_posts_once(staff_client: Any) -> None:
    client = staff_client(roles=["counter_clerk"])
    account = AccountFactory()
    bill = overdue_bill(
        account=account,
        period=dt.date(2026, 10, 1),
        amount="52.00",
        due_date=timezone.localdate() - dt.timedelta(days=3),
    )
    resp = client.get(reverse("billing:payments_counter"), {"account": account.number})
    assert resp.status_code == 200
    html = resp.content.decode()
    assert bill.number in html
    # 52.00 + the 1.00 minimum late fee, prefilled
    assert 'value="53.00"' in html
    key = re.search(r'name="key" value="([0-9a-f]+)"', html).group(1)
    form = {"account": account.number, "key": key, "amount": "53.00", "channel": "counter_cash"}
    first = client.post(reverse("billing:payments_counter"), form)
    second = client.post(reverse("billing:payments_counter"), form)
    payment = Payment.objects.get(account=account)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == reverse("billing:payments_receipt", args=[payment.pk])
    assert bill_outstanding(bill) == Decimal("0.00")
    receipt = client.get(first["Location"]).content.decode()
    assert payment.number in receipt
    assert "¥1.00" in receipt


def test_counter_unknown_account_and_bad_amount(staff_client: Any) -> None:
    client = staff_client(roles=["counter_clerk"])
    resp = client.get(reverse("billing:payments_counter"), {"account": "0000000000"})
    assert resp.context["not_found"] is True
    account = AccountFactory()
    resp = client.post(
        reverse("billing:payments_counter"),
        {"account": account.number, "key": "k", "amount": "1.234", "channel": "counter_cash"},
    )
    assert resp.status_code == 200
    assert not Payment.objects.exists()


def test_reverse_page(staff_client: Any, payment: Payment) -> None:
    client = staff_client(roles=["service_manager"])
    url = reverse("billing:payments_reverse", args=[payment.pk])
    resp = client.post(url, {"reason": ""})
    assert resp.status_code == 200
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.POSTED
    resp = client.post(url, {"reason": "收错户号"})
    assert resp.status_code == 302
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REVERSED


def payment_user(roles: list[str]) -> Any:
    from gridcare.core.tests.factories import UserFactory

    return UserFactory(roles=roles)


def test_clerk_cannot_post_a_reversal(payment: Payment) -> None:
    client = Client()
    client.force_login(payment_user(["counter_clerk"]))
    resp = client.post(reverse("billing:payments_reverse", args=[payment.pk]), {"reason": "x"})
    assert resp.status_code == 403
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.POSTED


def test_list_filters(staff_client: Any, payment: Payment) -> None:
    client = staff_client(roles=["counter_clerk"])
    other = payment_post(
        actor="t", account_id=AccountFactory().pk, amount="9.00", channel="wechat", idempotency_key="w9"
    )
    html = client.get(reverse("billing:payments"), {"channel": "wechat"}).content.decode()
    assert other.number in html
    assert payment.number not in html
    html = client.get(reverse("billing:payments"), {"account": payment.account.number}).content.decode()
    assert payment.number in html
    assert other.number not in html


def test_aging_page_chart_and_excel(staff_client: Any) -> None:
    client = staff_client(roles=["billing_clerk"])
    account = AccountFactory()
    overdue_bill(account=account, period=dt.date(2026, 5, 1), amount="12.34", due_date=dt.date(2026, 5, 20))
    resp = client.get(reverse("billing:payments_aging"), {"as_of": "2026-11-26", "by": "transformer"})
    html = resp.content.decode()
    assert 'id="aging-data"' in html
    assert account.service_point.transformer.code in html
    assert "¥12.34" in html
    resp = client.get(reverse("billing:payments_aging"), {"as_of": "2026-11-26", "format": "xlsx"})
    assert resp["Content-Type"].startswith("application/vnd.openxmlformats")
    assert resp["Content-Disposition"] == 'attachment; filename="arrears-aging-20261126.xlsx"'
    with zipfile.ZipFile(io.BytesIO(resp.content)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
        strings = book.read("xl/sharedStrings.xml").decode()
    # the row's > 180 days and total cells, the totals row's > 180 days and grand total
    assert sheet.count("<v>12.34</v>") == 4
    assert strings.count("<si>") == 11  # title, 9 headers, one row label


def test_aging_excel_writes_a_label_starting_with_equals_as_text(staff_client: Any) -> None:
    client = staff_client(roles=["billing_clerk"])
    account = AccountFactory(service_point__transformer__code='=HYPERLINK("x")')
    overdue_bill(account=account, period=dt.date(2026, 5, 1), amount="12.34", due_date=dt.date(2026, 5, 20))
    resp = client.get(
        reverse("billing:payments_aging"), {"as_of": "2026-11-26", "by": "transformer", "format": "xlsx"}
    )
    with zipfile.ZipFile(io.BytesIO(resp.content)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
        strings = book.read("xl/sharedStrings.xml").decode()
    assert "<f>" not in sheet  # no formula cell
    assert '<t>=HYPERLINK("x")</t>' in strings


def test_waiver_pages(staff_client: Any) -> None:
    bill = overdue_bill(
        account=AccountFactory(), period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2026, 11, 20)
    )
    clerk = staff_client(roles=["counter_clerk"])
    resp = clerk.post(
        reverse("billing:payments_waivers"), {"bill": bill.number, "amount": "1.00", "reason": "x"}
    )
    assert resp.status_code == 302
    waiver = LateFeeWaiver.objects.get()
    url = reverse("billing:payments_waiver_decide", args=[waiver.pk])
    assert clerk.post(url, {"decision": "approve"}).status_code == 403
    resp = clerk.post(reverse("billing:payments_waivers"), {"bill": "nope", "amount": "1.00", "reason": "x"})
    assert resp.status_code == 200
    assert LateFeeWaiver.objects.count() == 1
    manager = Client()
    manager.force_login(payment_user(["service_manager"]))
    assert manager.post(url, {"decision": "approve"}).status_code == 302
    waiver.refresh_from_db()
    assert waiver.status == DocumentStatus.APPROVED
    # hotline agents see the list but cannot request
    agent = Client()
    agent.force_login(payment_user(["hotline_agent"]))
    resp = agent.post(
        reverse("billing:payments_waivers"), {"bill": bill.number, "amount": "1.00", "reason": "y"}
    )
    assert resp.status_code == 403
    assert LateFeeWaiver.objects.count() == 1


def test_requester_cannot_approve_own_waiver_in_the_console() -> None:
    user = payment_user(["counter_clerk", "service_manager"])
    bill = overdue_bill(
        account=AccountFactory(), period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2026, 11, 20)
    )
    waiver = late_fee_waiver_request(actor=user, bill_id=bill.pk, amount="1.00", reason="x")
    client = Client()
    client.force_login(user)
    client.post(reverse("billing:payments_waiver_decide", args=[waiver.pk]), {"decision": "approve"})
    waiver.refresh_from_db()
    assert waiver.status == DocumentStatus.PENDING


def test_withholding_list(staff_client: Any) -> None:
    account = AccountFactory()
    overdue_bill(account=account, period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2099, 1, 1))
    batch, _ = withholding_export(actor="cli", bank="ICBC")
    html = staff_client(roles=["billing_clerk"]).get(reverse("billing:payments_withholding")).content.decode()
    assert batch.number in html
    assert "ICBC" in html


def test_payments_list_queries_do_not_grow_with_rows(staff_client: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = staff_client(roles=["counter_clerk"])
    counts = []
    for n in (2, 8):
        for i in range(n):
            payment_post(
                actor="t",
                account_id=AccountFactory().pk,
                amount="1.00",
                channel="wechat",
                idempotency_key=f"q{n}-{i}",
            )
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("billing:payments")).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_customer_cannot_request_or_decide_waivers_through_the_api(customer_client: Any) -> None:
    import json

    bill = overdue_bill(
        account=customer_client.account,
        period=dt.date(2026, 10, 1),
        amount="52.00",
        due_date=dt.date(2026, 11, 20),
    )
    resp = customer_client.post(
        "/api/billing/late-fee-waivers",
        data=json.dumps({"bill": bill.pk, "amount": "1.00", "reason": "x"}),
        content_type="application/json",
    )
    assert resp.status_code == 403
    assert not LateFeeWaiver.objects.exists()
