"""Pages and endpoints of bills with their permission matrix: anonymous, portal customer
(own vs another's bill — IDOR on HTML, PDF and API), staff without the permission, staff
with it; the customer 360 bills panel; the correction pages."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from gridcare.billing.choices import BillStatus, DocumentStatus
from gridcare.billing.models import BillAdjustment, BillingRun
from gridcare.billing.tests.factories_bills import decided_adjustment, notice_bill, pay
from gridcare.customers.tests.factories import AccountFactory, CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bill():
    run = BillingRun.objects.create(period=dt.date(2026, 10, 1), status="issued", created_by="t")
    return notice_bill(run=run)


def staff_pages(bill):
    return [
        reverse("billing:bills"),
        reverse("billing:bill", args=[bill.pk]),
        reverse("billing:bill_notice", args=[bill.pk]),
        reverse("billing:bill_notice_pdf", args=[bill.pk]),
        reverse("billing:run_export", args=[bill.run_id]),
        reverse("billing:bill_adjustments"),
    ]


# --- staff pages --------------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, bill):
    for url in staff_pages(bill):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/login/" in response["Location"]


def test_customer_and_staff_without_the_permission_get_403(customer_client, staff_client, bill):
    for url in staff_pages(bill):
        assert customer_client.get(url).status_code == 403, url
    crew = staff_client(roles=["repair_crew"])
    for url in staff_pages(bill):
        assert crew.get(url).status_code == 403, url


def test_billing_clerk_sees_every_page(staff_client, bill):
    decided_adjustment(bill, "-2.00")
    pay(bill, "10.00")
    client = staff_client(roles=["billing_clerk"])
    listing = client.get(reverse("billing:bills"), {"account": bill.account.number})
    assert listing.status_code == 200
    assert bill.number in listing.content.decode()
    detail = client.get(reverse("billing:bill", args=[bill.pk])).content.decode()
    assert "第一档电量电费" in detail
    assert "其中" in detail  # the INFO line under the energy line
    assert "¥40.00" in detail  # outstanding: 52.00 − 2.00 − 10.00
    assert reverse("billing:run", args=[bill.run_id]) in detail
    notice = client.get(reverse("billing:bill_notice", args=[bill.pk]))
    assert notice.status_code == 200
    assert "政府性基金及附加" in notice.content.decode()
    pdf = client.get(reverse("billing:bill_notice_pdf", args=[bill.pk]))
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    export = client.get(reverse("billing:run_export", args=[bill.run_id]))
    assert export.status_code == 200
    assert b"".join(export.streaming_content).startswith(b"PK")  # a zip: the .xlsx


def test_missing_bill_and_run_are_404(staff_client):
    client = staff_client(roles=["billing_clerk"])
    assert client.get(reverse("billing:bill", args=[999999])).status_code == 404
    assert client.get(reverse("billing:bill_notice_pdf", args=[999999])).status_code == 404
    assert client.get(reverse("billing:run_export", args=[999999])).status_code == 404


def test_bill_list_rejects_a_bad_month_without_failing(staff_client, bill):
    response = staff_client(roles=["billing_clerk"]).get(reverse("billing:bills"), {"period": "2026-13"})
    assert response.status_code == 200
    assert "YYYY-MM" in response.content.decode()


def test_bill_list_query_count_does_not_grow_with_bills(staff_client, django_assert_max_num_queries):
    for _ in range(30):
        notice_bill()
    client = staff_client(roles=["billing_clerk"])
    with django_assert_max_num_queries(12):
        assert client.get(reverse("billing:bills")).status_code == 200


# --- corrections pages ------------------------------------------------------------------------------


def test_request_form_needs_the_add_permission(staff_client, bill):
    url = reverse("billing:bill_adjustment_new", args=[bill.pk])
    assert staff_client(roles=["hotline_agent"]).get(url).status_code == 403


def test_request_by_hand_then_a_second_person_approves(client, make_user, bill):
    clerk = make_user(roles=["billing_clerk"], username="clerk1")
    client.force_login(clerk)
    response = client.post(
        reverse("billing:bill_adjustment_new", args=[bill.pk]),
        {"kind": "refund", "kwh": "", "amount": "3.00", "reason": "多收"},
    )
    adj = BillAdjustment.objects.get()
    assert response.status_code == 302
    assert adj.amount == Decimal("-3.00")
    # the requester sees no approve button and a POST is refused by the service
    page = client.get(reverse("billing:bill_adjustment", args=[adj.pk])).content.decode()
    assert 'value="approve"' not in page
    assert (
        client.post(reverse("billing:bill_adjustment", args=[adj.pk]), {"decision": "approve"}).status_code
        == 403
    )
    manager = make_user(roles=["service_manager"], username="boss")
    client.force_login(manager)
    listing = client.get(reverse("billing:bill_adjustments")).content.decode()
    assert adj.number in listing
    client.post(reverse("billing:bill_adjustment", args=[adj.pk]), {"decision": "approve", "note": "ok"})
    adj.refresh_from_db()
    assert (adj.status, adj.decided_by) == (DocumentStatus.APPROVED, "boss")


def test_request_form_shows_service_errors_on_the_field(staff_client, bill):
    client = staff_client(roles=["billing_clerk"])
    response = client.post(
        reverse("billing:bill_adjustment_new", args=[bill.pk]),
        {"kind": "refund", "kwh": "", "amount": "", "reason": "x"},
    )
    assert response.status_code == 200
    assert "Give the energy to correct or the amount." in response.content.decode()
    assert not BillAdjustment.objects.exists()


# --- customer 360 ---------------------------------------------------------------------------------


def test_360_bills_panel_for_staff_who_may_see_bills(staff_client):
    customer = CustomerFactory()
    account = AccountFactory(customer=customer)
    bills = [notice_bill(account=account, period=dt.date(2026, m, 1)) for m in range(1, 4)]
    notice_bill(account=account, period=dt.date(2026, 4, 1), status=BillStatus.DRAFT)
    page = staff_client(roles=["counter_clerk"]).get(reverse("customers:detail", args=[customer.pk]))
    html = page.content.decode()
    assert 'id="bills-chart-data"' in html
    for b in bills:
        assert reverse("billing:bill", args=[b.pk]) in html
    assert "2026-04" not in html.split('id="bills-title"')[1].split("</section>")[0]  # drafts not shown
    data = json.loads(html.split('id="bills-chart-data" type="application/json">')[1].split("</script>")[0])
    assert data["periods"] == ["2026-01", "2026-02", "2026-03"]
    assert data["amount"] == ["52.00", "52.00", "52.00"]


def test_360_hides_bills_from_roles_without_the_permission(staff_client):
    customer = CustomerFactory()
    bill = notice_bill(account=AccountFactory(customer=customer))
    html = (
        staff_client(roles=["repair_crew"])
        .get(reverse("customers:detail", args=[customer.pk]))
        .content.decode()
    )
    assert bill.number not in html
    assert "Your role does not show bills." in html


# --- portal ---------------------------------------------------------------------------------------


def portal_pages(bill):
    return [
        reverse("portal:bill", args=[bill.pk]),
        reverse("portal:bill_pdf", args=[bill.pk]),
    ]


def test_portal_customer_sees_own_bills_html_and_pdf(customer_client):
    own = notice_bill(account=customer_client.account)
    listing = customer_client.get(reverse("portal:bills")).content.decode()
    assert reverse("portal:bill", args=[own.pk]) in listing
    assert customer_client.get(reverse("portal:bill", args=[own.pk])).status_code == 200
    pdf = customer_client.get(reverse("portal:bill_pdf", args=[own.pk]))
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")


def test_portal_idor_another_customers_bill_is_404(customer_client):
    other = notice_bill()
    for url in portal_pages(other):
        assert customer_client.get(url).status_code == 404, url
    assert other.number not in customer_client.get(reverse("portal:bills")).content.decode()


def test_portal_hides_draft_bills_of_the_customer(customer_client):
    draft = notice_bill(account=customer_client.account, status=BillStatus.DRAFT)
    for url in portal_pages(draft):
        assert customer_client.get(url).status_code == 404, url


def test_portal_pages_refuse_staff_and_anonymous(client, staff_client, bill):
    for url in [reverse("portal:bills"), *portal_pages(bill)]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/portal/login/" in response["Location"]
    staff = staff_client(roles=["billing_clerk"])
    for url in [reverse("portal:bills"), *portal_pages(bill)]:
        assert staff.get(url).status_code == 403, url


# --- API ------------------------------------------------------------------------------------------


def api_urls(bill):
    return [f"/api/billing/bills?account={bill.account.number}", f"/api/billing/bills/{bill.pk}"]


def test_api_matrix(customer_client, staff_client, bill):
    for url in api_urls(bill):
        assert Client().get(url).status_code == 401
        assert customer_client.get(url).status_code == 403
    crew = staff_client(roles=["repair_crew"])
    for url in api_urls(bill):
        assert crew.get(url).status_code == 403


def test_api_lists_and_details_for_staff(staff_client, bill):
    decided_adjustment(bill, "-2.00")
    client = staff_client(roles=["auditor"])
    rows = client.get(f"/api/billing/bills?account={bill.account.number}").json()
    assert [(r["number"], r["outstanding"]) for r in rows] == [(bill.number, "50.00")]
    detail = client.get(f"/api/billing/bills/{bill.pk}").json()
    assert [line["item"] for line in detail["lines"]] == ["energy_tier1", "fund"]
    assert detail["readings"]["total"]["kwh"] == "100.000"
    assert client.get("/api/billing/bills/999999").json()["code"] == "not_found"


def test_api_correction_request_and_decision(client, make_user, bill):
    clerk = make_user(roles=["billing_clerk"], username="c1")
    client.force_login(clerk)
    body = {"kind": "backbill", "amount": "4.00", "reason": "漏抄"}
    created = client.post(
        f"/api/billing/bills/{bill.pk}/adjustments", json.dumps(body), content_type="application/json"
    )
    assert created.status_code == 201
    adj_id = created.json()["id"]
    url = f"/api/billing/adjustments/{adj_id}/decision"
    decision = json.dumps({"approve": True})
    assert client.post(url, decision, content_type="application/json").status_code == 403  # no approve perm
    client.force_login(make_user(roles=["service_manager"], username="m1"))
    approved = client.post(url, decision, content_type="application/json")
    assert approved.json()["status"] == "approved"
    assert client.post(url, decision, content_type="application/json").status_code == 409
    bad = client.post(
        f"/api/billing/bills/{bill.pk}/adjustments",
        json.dumps({"kind": "refund", "kwh": "0", "reason": "x"}),
        content_type="application/json",
    )
    assert bad.status_code == 403  # the manager may approve but not request


def test_portal_api_own_bills_only(customer_client, staff_client):
    own = notice_bill(account=customer_client.account)
    other = notice_bill()
    rows = customer_client.get("/api/portal/bills").json()["items"]  # a page (docs/api.md)
    assert [r["id"] for r in rows] == [own.pk]
    assert customer_client.get(f"/api/portal/bills/{own.pk}").status_code == 200
    idor = customer_client.get(f"/api/portal/bills/{other.pk}")
    assert idor.status_code == 404
    assert idor.json()["code"] == "not_found"
    assert Client().get("/api/portal/bills").status_code == 401
    staff = staff_client(roles=["billing_clerk"])
    assert staff.get("/api/portal/bills").status_code == 403
    assert staff.get(f"/api/portal/bills/{own.pk}").status_code == 403


# --- correction pages: the matrix ---------------------------------------------------------------


def correction_pages(bill, adj):
    return [
        ("get", reverse("billing:bill_adjustment_new", args=[bill.pk])),
        ("get", reverse("billing:bill_adjustment", args=[adj.pk])),
        ("post", reverse("billing:bill_adjustment", args=[adj.pk])),
        ("post", reverse("billing:bill_meter_adjustment_settle", args=[1])),
    ]


def test_correction_pages_matrix(customer_client, staff_client, bill):
    adj = decided_adjustment(bill, "-1.00", status=DocumentStatus.PENDING)
    anonymous = Client()
    for method, url in correction_pages(bill, adj):
        response = getattr(anonymous, method)(url)
        assert response.status_code == 302, url
        assert getattr(customer_client, method)(url).status_code == 403, url
    auditor = staff_client(roles=["auditor"])  # may view corrections, may not act
    assert auditor.get(reverse("billing:bill_adjustment", args=[adj.pk])).status_code == 200
    for method, url in correction_pages(bill, adj):
        if method == "post" or url.endswith("/adjust/"):
            assert getattr(auditor, method)(url).status_code == 403, url
    adj.refresh_from_db()
    assert adj.status == DocumentStatus.PENDING


def test_settle_a_meter_record_from_the_corrections_page(staff_client):
    from gridcare.billing.tests.factories_bills import meter_adjustment
    from gridcare.metering.choices import AdjustmentStatus

    account = AccountFactory()
    bill = notice_bill(account=account, kwh="100.000", amount="52.00")
    record = meter_adjustment(
        account, error_pct="5.00", start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 31)
    )
    client = staff_client(roles=["billing_clerk"])
    page = client.get(reverse("billing:bill_adjustments")).content.decode()
    assert reverse("billing:bill_meter_adjustment_settle", args=[record.pk]) in page
    response = client.post(reverse("billing:bill_meter_adjustment_settle", args=[record.pk]))
    assert response.status_code == 302
    adj = BillAdjustment.objects.get(bill=bill)
    # 100 × 5/105 = 4.762 kWh; 95.238 × 0.52 = 49.52 → −2.48
    assert (adj.kwh, adj.amount, adj.meter_adjustment_id) == (Decimal("-4.762"), Decimal("-2.48"), record.pk)
    record.refresh_from_db()
    assert record.status == AdjustmentStatus.SETTLED
    again = client.post(reverse("billing:bill_meter_adjustment_settle", args=[record.pk]), follow=True)
    assert "already been settled" in again.content.decode()
    assert BillAdjustment.objects.count() == 1


def test_portal_api_hides_pending_corrections_and_staff_names(customer_client):
    own = notice_bill(account=customer_client.account)
    decided_adjustment(own, "-2.00")
    decided_adjustment(own, "-9.00", status=DocumentStatus.PENDING)
    detail = customer_client.get(f"/api/portal/bills/{own.pk}").json()
    assert [(a["amount"], a["requested_by"], a["decided_by"]) for a in detail["adjustments"]] == [
        ("-2.00", "", "")
    ]
    assert detail["outstanding"] == "50.00"


def test_page_query_counts_do_not_grow_with_lines_and_bills(
    staff_client, customer_client, django_assert_max_num_queries
):
    account = customer_client.account
    bills = [notice_bill(account=account, period=dt.date(2026, m, 1)) for m in range(1, 13)]
    for b in bills[:6]:
        decided_adjustment(b, "-1.00")
        pay(b, "5.00")
    with django_assert_max_num_queries(12):
        assert customer_client.get(reverse("portal:bills")).status_code == 200
    with django_assert_max_num_queries(12):
        assert customer_client.get(reverse("portal:bill", args=[bills[0].pk])).status_code == 200
    clerk = staff_client(roles=["counter_clerk"])
    with django_assert_max_num_queries(14):
        assert clerk.get(reverse("billing:bill", args=[bills[0].pk])).status_code == 200


def test_api_account_statement(customer_client, staff_client):
    account = AccountFactory()
    sep = notice_bill(account=account, period=dt.date(2026, 9, 1), amount="40.00")
    notice_bill(account=account, period=dt.date(2026, 10, 1), amount="60.00")
    pay(sep, "40.00")
    url = f"/api/billing/accounts/{account.number}/statement"
    assert Client().get(url).status_code == 401
    assert customer_client.get(url).status_code == 403
    body = staff_client(roles=["counter_clerk"]).get(url).json()
    assert (body["billed"], body["paid"], body["outstanding"], body["balance"]) == (
        "100.00",
        "40.00",
        "60.00",
        "60.00",
    )
    assert [e["kind"] for e in body["entries"]] == ["bill", "bill", "payment"]
    assert (
        staff_client(roles=["counter_clerk"]).get("/api/billing/accounts/0000/statement").status_code == 404
    )


def test_portal_bills_of_one_account(customer_client):
    second = AccountFactory(customer=customer_client.customer)
    first_bill = notice_bill(account=customer_client.account)
    second_bill = notice_bill(account=second)
    html = customer_client.get(reverse("portal:bills"), {"account": second.number}).content.decode()
    assert reverse("portal:bill", args=[second_bill.pk]) in html
    assert reverse("portal:bill", args=[first_bill.pk]) not in html
    page = customer_client.get(reverse("portal:account", args=[second.number])).content.decode()
    assert f"/portal/bills/?account={second.number}" in page


def test_api_adjustment_list_and_detail(customer_client, staff_client, bill):
    pending = decided_adjustment(bill, "-1.00", status=DocumentStatus.PENDING)
    approved = decided_adjustment(bill, "-2.00")
    for url in ("/api/billing/adjustments", f"/api/billing/adjustments/{pending.pk}"):
        assert Client().get(url).status_code == 401
        assert customer_client.get(url).status_code == 403
        assert staff_client(roles=["repair_crew"]).get(url).status_code == 403
    client = staff_client(roles=["metering_tech"])  # view_billadjustment only
    assert [a["id"] for a in client.get("/api/billing/adjustments").json()] == [pending.pk, approved.pk]
    assert [a["id"] for a in client.get("/api/billing/adjustments?status=approved").json()] == [approved.pk]
    assert client.get(f"/api/billing/adjustments/{approved.pk}").json()["amount"] == "-2.00"
    assert client.get("/api/billing/adjustments/999999").status_code == 404


@pytest.mark.parametrize("role", ["inspector", "metering_tech"])
def test_the_bill_page_links_its_run_only_for_roles_that_may_open_it(staff_client, role):
    run = BillingRun.objects.create(period=dt.date(2026, 10, 1), status="issued", created_by="t")
    bill = notice_bill(run=run)
    run_page = reverse("billing:run", args=[run.pk])
    page = staff_client(roles=[role]).get(reverse("billing:bill", args=[bill.pk]))
    assert f'href="{run_page}"' not in page.content.decode()
    clerk_page = staff_client(roles=["billing_clerk"]).get(reverse("billing:bill", args=[bill.pk]))
    assert f'href="{run_page}"' in clerk_page.content.decode()


def test_a_huge_run_filter_is_a_form_error_not_a_server_error(staff_client):
    client = staff_client(roles=["billing_clerk"])
    response = client.get(reverse("billing:bills"), {"run": "99999999999999999999"})
    assert response.status_code == 200


# --- a back-billing's own due date (补收缴费截止日) ----------------------------------------------


def with_back_billings(bill):
    """The bill (due 2026-11-20) with a back-billing of 62.00 approved and due 2026-12-18,
    a refund, and a pending back-billing (no due date shown for those two)."""
    backbill = decided_adjustment(bill, "62.00", due_date=dt.date(2026, 12, 18))
    refund = decided_adjustment(bill, "-2.00")
    pending = decided_adjustment(bill, "9.00", status=DocumentStatus.PENDING)
    return backbill, refund, pending


def test_the_bill_page_and_notice_show_a_back_billings_own_due_date(staff_client, bill):
    backbill, _refund, _pending = with_back_billings(bill)
    client = staff_client(roles=["billing_clerk"])
    for url in (reverse("billing:bill", args=[bill.pk]), reverse("billing:bill_notice", args=[bill.pk])):
        html = client.get(url).content.decode()
        assert "2026-11-20" in html  # the bill's own due date
        assert "Back-billing (补收)" in html
        assert backbill.number in html
        assert "¥62.00, due 2026-12-18" in html
        assert "¥9.00, due" not in html
        assert "its own due date" in html
    page = client.get(reverse("billing:bill_adjustment", args=[backbill.pk])).content.decode()
    assert "2026-12-18" in page


def test_a_bill_without_back_billing_shows_no_back_billing_due_date(staff_client, bill):
    decided_adjustment(bill, "-2.00")
    html = staff_client(roles=["billing_clerk"]).get(reverse("billing:bill", args=[bill.pk])).content.decode()
    assert "Back-billing (补收)" not in html
    assert "its own due date" not in html


def test_the_portal_bill_page_shows_a_back_billings_own_due_date(customer_client):
    own = notice_bill(account=customer_client.account)
    with_back_billings(own)
    html = customer_client.get(reverse("portal:bill", args=[own.pk])).content.decode()
    assert "¥62.00, due 2026-12-18" in html
    assert "¥9.00, due" not in html


def test_the_api_gives_an_approved_back_billing_its_due_date(staff_client, customer_client):
    own = notice_bill(account=customer_client.account)
    backbill, refund, pending = with_back_billings(own)
    portal = customer_client.get(f"/api/portal/bills/{own.pk}").json()
    assert {(a["amount"], a["due_date"]) for a in portal["adjustments"]} == {
        ("62.00", "2026-12-18"),
        ("-2.00", None),
    }
    staff = staff_client(roles=["billing_clerk"])  # the same test client, logged in again
    detail = staff.get(f"/api/billing/bills/{own.pk}").json()
    assert {a["id"]: a["due_date"] for a in detail["adjustments"]} == {
        backbill.pk: "2026-12-18",
        refund.pk: None,
        pending.pk: None,
    }
    assert staff.get(f"/api/billing/adjustments/{backbill.pk}").json()["due_date"] == "2026-12-18"
