"""Case pages: permission matrix (anonymous, portal customer, staff without the role, the
right roles), IDOR-style checks on the case id, the list's filters, the new-case form with
its prefill and compute preview, the detail page's actions, and the notice HTML and PDF."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from gridcare.billing.models import AgencyPurchasePrice
from gridcare.billing.tests.test_documents import pdf_text
from gridcare.customers.choices import CustomerClass
from gridcare.inspection.models import Case
from gridcare.inspection.services.cases import case_decide, case_submit, case_update, catalogue_price
from gridcare.inspection.tests.test_cases_services import (
    KNOWN,
    account_with_contract,
    approved_case,
    task_with_finding,
    theft_case,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(settings):
    """The pages are checked in English (the msgids); the translator does zh-Hans."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def maker(make_user):
    return make_user(roles=["inspector"], username="maker")


@pytest.fixture
def case(maker):
    return theft_case(maker, account_with_contract(), facts="表尾短接绕越计量")


def pages(case):
    return [
        reverse("inspection:cases"),
        reverse("inspection:case_detail", args=[case.pk]),
        reverse("inspection:case_notice", args=[case.pk]),
        reverse("inspection:case_notice_pdf", args=[case.pk]),
    ]


def test_anonymous_customer_and_other_staff_are_kept_out(case, customer_client, staff_client):
    anonymous = Client()
    for url in [*pages(case), reverse("inspection:case_new")]:
        response = anonymous.get(url)
        assert response.status_code == 302, url
        assert "/login/" in response["Location"]
    for url in [*pages(case), reverse("inspection:case_new")]:
        assert customer_client.get(url).status_code == 403, url
    clerk = staff_client(roles=["billing_clerk"])
    for url in [*pages(case), reverse("inspection:case_new")]:
        assert clerk.get(url).status_code == 403, url


@pytest.mark.parametrize("role", ["inspector", "marketing_manager", "service_manager", "auditor"])
def test_readers_see_every_page(case, staff_client, role):
    client = staff_client(roles=[role])
    for url in pages(case):
        assert client.get(url).status_code == 200, url
    expected = 200 if role in ("inspector", "marketing_manager") else 403
    assert client.get(reverse("inspection:case_new")).status_code == expected


def test_unknown_case_ids_are_404(case, staff_client):
    client = staff_client(roles=["inspector"])
    missing = case.pk + 1000
    for name in ("inspection:case_detail", "inspection:case_notice", "inspection:case_notice_pdf"):
        assert client.get(reverse(name, args=[missing])).status_code == 404
    assert (
        client.post(reverse("inspection:case_detail", args=[missing]), {"action": "submit"}).status_code
        == 404
    )


def test_list_filters_and_search(maker, staff_client, django_assert_max_num_queries):
    shop = account_with_contract(customer_class=CustomerClass.GENERAL_IC)
    theft = theft_case(maker, shop)
    from gridcare.inspection.services.cases import case_create

    violation = case_create(
        actor=maker,
        kind="violation",
        violation_kind="source_connection",
        account_id=account_with_contract().pk,
        occurred_on=dt.date(2026, 10, 1),
        inputs={"source_kw": "30"},
    )
    client = staff_client(roles=["auditor"])
    url = reverse("inspection:cases")
    with django_assert_max_num_queries(12):
        body = client.get(url).content.decode()
    assert theft.number in body
    assert violation.number in body
    assert "badge--info" in body  # draft
    body = client.get(url, {"kind": "violation"}).content.decode()
    assert violation.number in body
    assert theft.number not in body
    body = client.get(url, {"violation_kind": "source_connection"}).content.decode()
    assert violation.number in body
    assert theft.number not in body
    body = client.get(url, {"q": shop.number}).content.decode()
    assert theft.number in body
    assert violation.number not in body
    body = client.get(url, {"q": violation.number}).content.decode()
    assert violation.number in body
    assert theft.number not in body
    body = client.get(url, {"q": shop.customer.name}).content.decode()
    assert theft.number in body
    body = client.get(url, {"status": "approved"}).content.decode()
    assert theft.number not in body
    assert "No case matches" in body


def test_new_case_prefilled_from_a_finding_then_computed_then_saved(staff_client):
    account = account_with_contract(capacity="5")
    task, finding = task_with_finding(account)
    client = staff_client(roles=["inspector"])
    url = reverse("inspection:case_new")
    form = client.get(url, {"finding": finding.pk}).content.decode()
    assert f'value="{account.number}"' in form
    assert re.search(r'name="capacity_kw"[^>]*value="5"', form)
    assert re.search(r'name="price"[^>]*value="0.52"', form)
    assert f'name="finding" value="{finding.pk}"' in form
    # the day the finding was recorded, in the format a date input reads
    assert re.search(rf'name="occurred_on" value="{timezone.localdate():%Y-%m-%d}"', form)
    post = {
        "kind": "theft",
        "theft_method": "bypass",
        "user_type": "power",
        "account": account.number,
        "occurred_on": "2026-10-15",
        "facts": "绕越",
        "finding": finding.pk,
        "period_known": "on",
        "capacity_kw": "5",
        "hours_per_day": "8",
        "days": "30",
        "price": "0.52",
    }
    preview = client.post(url, {**post, "action": "preview"})
    assert preview.status_code == 200
    body = preview.content.decode()
    assert "¥1,872.00" in body
    assert "¥2,496.00" in body
    assert "624.00 元 × 3 倍" in body
    assert not Case.objects.exists()
    saved = client.post(url, {**post, "action": "save"})
    case = Case.objects.get()
    assert saved.status_code == 302
    assert saved["Location"] == reverse("inspection:case_detail", args=[case.pk])
    assert (case.total, case.task_id, case.finding_id) == (Decimal("2496.00"), task.pk, finding.pk)


def test_new_case_errors_stay_on_the_form(staff_client):
    account = account_with_contract()
    client = staff_client(roles=["inspector"])
    url = reverse("inspection:case_new")
    response = client.post(
        url,
        {
            "kind": "theft",
            "theft_method": "bypass",
            "account": account.number,
            "occurred_on": "2026-10-15",
            "capacity_kw": "5",
            "price": "0.52",
            "agreed_multiple": "4",
            "action": "save",
        },
    )
    assert response.status_code == 200
    assert "Above the ceiling" in response.content.decode()
    response = client.post(url, {"kind": "theft", "account": "NOPE", "occurred_on": "2026-10-15"})
    assert "No account has this number." in response.content.decode()
    assert not Case.objects.exists()
    assert client.get(url, {"finding": 999999}).status_code == 404


def test_new_case_accepts_the_six_decimal_catalogue_price_it_prefills(staff_client):
    # given an agency purchase price (代理购电) published with 6 decimals
    AgencyPurchasePrice.objects.filter(price_group="GIC-LV").update(
        purchase_price=F("purchase_price") + Decimal("0.000375")
    )
    today = timezone.localdate()
    shop = account_with_contract(customer_class=CustomerClass.GENERAL_IC, tariff="HEBS-GIC-LV")
    quoted = catalogue_price("HEBS-GIC-LV", today)
    assert quoted is not None
    price = str(quoted["price"])
    assert len(price.split(".")[1]) == 6
    client = staff_client(roles=["inspector"])
    url = reverse("inspection:case_new")
    # when the page pre-fills it
    form = client.get(url, {"account": shop.pk}).content.decode()
    assert re.findall(r'<input[^>]*name="price"[^>]*value="([^"]*)"', form) == [price]
    assert re.search(r'<input[^>]*name="price"[^>]*step="0.000001"', form)
    # then saving exactly that price is accepted, the money rounded to the fen
    post = {
        "kind": "theft",
        "theft_method": "bypass",
        "user_type": "power",
        "account": shop.number,
        "occurred_on": today.isoformat(),
        "capacity_kw": "10",
        "price": price,
        "action": "save",
    }
    response = client.post(url, post)
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.inputs["price"] == price
    assert case.back_charge == (Decimal("21600") * Decimal(price)).quantize(Decimal("0.01"))
    # a seventh decimal is still refused
    assert client.post(url, {**post, "price": price + "1"}).status_code == 200
    assert Case.objects.count() == 1


def test_detail_actions_follow_role_and_status(case, maker, staff_client, make_user):
    url = reverse("inspection:case_detail", args=[case.pk])
    client = staff_client(roles=["inspector"], username="maker")
    body = client.get(url).content.decode()
    assert 'value="submit"' in body
    assert 'value="edit"' in body
    assert "624.00 元 × 3 倍" in body
    assert "inspection.case.create" in body
    # edit the draft: 60 days instead of 30
    response = client.post(
        url,
        {
            **{k: ("on" if v is True else v) for k, v in KNOWN.items()},
            "days": "60",
            "theft_method": "bypass",
            "user_type": "lighting",
            "occurred_on": "2026-10-15",
            "version": case.version,
            "action": "edit",
        },
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.total, case.version) == (Decimal("4992.00"), 2)
    # a stale version is refused with a message, nothing changes
    stale = client.post(
        url, {**KNOWN, "period_known": "on", "occurred_on": "2026-10-15", "version": 1, "action": "edit"}
    )
    assert stale.status_code == 302
    case.refresh_from_db()
    assert case.version == 2
    assert client.post(url, {"action": "approve"}).status_code == 403  # an inspector cannot approve
    assert client.post(url, {"action": "submit", "version": case.version}).status_code == 302
    case.refresh_from_db()
    assert case.status == "submitted"
    # the submitter sees no approval buttons; an auditor can do nothing
    assert 'value="approve"' not in client.get(url).content.decode()
    auditor = staff_client(roles=["auditor"])
    assert 'value="approve"' not in auditor.get(url).content.decode()
    assert auditor.post(url, {"action": "approve"}).status_code == 403
    boss = staff_client(roles=["service_manager"], username="boss")
    assert 'value="approve"' in boss.get(url).content.decode()
    assert boss.post(url, {"action": "reject", "note": ""}).status_code == 302  # message: a note is needed
    case.refresh_from_db()
    assert case.status == "submitted"
    assert boss.post(url, {"action": "approve", "version": case.version}).status_code == 302
    case.refresh_from_db()
    assert (case.status, case.decided_by) == ("approved", "boss")


def test_no_approval_buttons_for_a_manager_who_changed_the_case_in_an_earlier_round(
    maker, make_user, staff_client
):
    """四眼原则 across rounds: the manager sent the case back and rewrote it; the inspector
    resubmitted it. The service refuses that manager's decision, so the page offers none."""
    case = theft_case(maker, account_with_contract())
    manager = make_user(roles=["marketing_manager"], username="rewriter")
    case = case_submit(actor=maker, case_id=case.pk)
    case = case_decide(actor=manager, case_id=case.pk, approve=False, note="核实电价")
    case = case_update(
        actor=manager, case_id=case.pk, version=case.version, inputs={**KNOWN, "price": "5.20"}
    )
    case = case_submit(actor=maker, case_id=case.pk)
    url = reverse("inspection:case_detail", args=[case.pk])
    client = Client()
    client.force_login(manager)
    body = client.get(url).content.decode()
    assert 'value="approve"' not in body
    assert 'value="reject"' not in body
    assert (
        'value="approve"'
        in staff_client(roles=["service_manager"], username="other").get(url).content.decode()
    )


def test_post_without_an_issued_bill_is_refused_with_a_message(maker, make_user, staff_client):
    case = approved_case(maker, make_user(roles=["service_manager"], username="boss"))
    client = staff_client(roles=["inspector"], username="maker")
    url = reverse("inspection:case_detail", args=[case.pk])
    response = client.post(url, {"action": "post"}, follow=True)
    assert "no issued bill yet" in response.content.decode()
    case.refresh_from_db()
    assert case.status == "approved"
    assert client.post(url, {"action": "notify"}).status_code == 302
    case.refresh_from_db()
    assert case.status == "notified"


def test_notice_html_and_pdf(case, staff_client):
    client = staff_client(roles=["inspector"])
    html = client.get(reverse("inspection:case_notice", args=[case.pk])).content.decode()
    assert "窃电通知书" in html
    assert case.number in html
    assert "壹仟捌佰柒拾贰元整" in html  # the penalty 1,872.00 in capitals
    assert "贰仟肆佰玖拾陆元整" in html  # the total 2,496.00
    assert "绕越计量装置" in html
    assert "must not be served" in html  # a draft
    assert "送达之日起 7 日内" in html
    assert "2024 供电营业规则" in html  # found after 2024-06-01: the 2024 rule's rows
    pdf = client.get(reverse("inspection:case_notice_pdf", args=[case.pk]))
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert pdf.content.rstrip().endswith(b"%%EOF")
    assert case.number.encode() in pdf.content  # the document's subject
    text = pdf_text(pdf.content)
    assert case.number in text
    assert "2,496.00" in text
    assert "DRAFT" in text  # not approved: marked on paper as on the page


def test_an_approved_notice_pdf_has_no_draft_mark(maker, make_user, staff_client):
    case = approved_case(maker, make_user(roles=["service_manager"], username="boss"))
    client = staff_client(roles=["inspector"])
    text = pdf_text(client.get(reverse("inspection:case_notice_pdf", args=[case.pk])).content)
    assert case.number in text
    assert "DRAFT" not in text


def test_detail_page_query_count_is_pinned(case, staff_client, django_assert_max_num_queries):
    client = staff_client(roles=["marketing_manager"])
    url = reverse("inspection:case_detail", args=[case.pk])
    client.get(url)  # warm the session and permission caches
    with django_assert_max_num_queries(7):
        assert client.get(url).status_code == 200
