"""为举报人保密 on every surface (issue 5, item 5).

A report's reporter (name, phone, ID number, address) must never be shown, exported,
returned, searched or put in an alert or audit row — not for a user without
``workorders.view_reporteridentity`` (hotline agent, auditor) and not for one with it
(service manager) either: the only place the reporter appears is the audited reveal page
``workorders:order_reporter``, for the permitted user only.

Every surface is checked twice: it shows the report (its number is in the body, so the test
can fail) and none of the reporter's values are anywhere in the body.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridcare.core.models import AuditEvent
from gridcare.core.tests.factories import valid_id_number
from gridcare.customers.models import Customer
from gridcare.customers.tests.factories import AccountFactory, CustomerFactory
from gridcare.workorders.models import StaffAlert, WorkOrder
from gridcare.workorders.services.orders import work_order_comment, work_order_create, work_order_transition
from gridcare.workorders.tests.factories import TeamFactory, accept

pytestmark = pytest.mark.django_db

NAME = "保密举报人甲"
PHONE = "13712345678"
ADDRESS = "保密路99号举报人家"
ID_NUMBER = valid_id_number(7)
SECRETS = (NAME, PHONE, ID_NUMBER, ADDRESS)
ROLES = ("hotline_agent", "auditor", "service_manager")


def assert_clean(body: str, *, where: str, skip: tuple[str, ...] = ()) -> None:
    for secret in SECRETS:
        if secret not in skip:
            assert secret not in body, f"{secret!r} leaked on {where}"


def text(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


class Scene:
    """Who is who: an agent (team supervisor, so the major report alerts them too), an auditor,
    a service manager, the reported customer with a portal login, and one major report."""

    def __init__(self, make_user: Any) -> None:
        self.users = {
            "hotline_agent": make_user(roles=["hotline_agent"], username="agent_c"),
            "auditor": make_user(roles=["auditor"], username="auditor_c"),
            "service_manager": make_user(roles=["service_manager"], username="manager_c"),
        }
        agent = self.users["hotline_agent"]
        self.team = TeamFactory(code="JB01", supervisor=agent, members=[agent])
        self.reported = CustomerFactory(with_login=True)
        self.reported_account = AccountFactory(customer=self.reported)
        self.report = work_order_create(
            actor=agent,
            kind="report",
            channel="hotline",
            category="rpt_theft",
            subject="举报有人私拉电线窃电",
            description="来电人称邻居从公用线路私拉电线。",
            account_number=self.reported_account.number,
            address="东街3号(被举报地点)",
            reporter={"name": NAME, "phone": PHONE, "id_number": ID_NUMBER, "address": ADDRESS},
            personal_injury=True,  # major: alerts the managers and the team supervisor
            team=self.team.code,
        )
        work_order_transition(
            actor=agent,
            number=self.report.number,
            transition="assign",
            expected_version=1,
            fields={"team": self.team.code, "assignee": agent.username, "note": "请核查被举报地点"},
        )
        work_order_comment(actor=agent, number=self.report.number, note="已通知用电检查班")
        self.complaint = accept(actor=agent, contact_phone="13900001111")

    def client(self, role: str) -> Client:
        c = Client()
        c.force_login(self.users[role])
        return c


@pytest.fixture
def scene(make_user: Any) -> Scene:
    return Scene(make_user)


def test_the_reporter_is_stored_and_the_order_carries_no_contact(scene: Scene) -> None:
    report = WorkOrder.objects.get(pk=scene.report.pk)
    assert report.reporter.name == NAME
    assert report.reporter.phone == PHONE
    assert report.contact_name == ""
    assert report.contact_phone == ""


# ---- console list, search, detail, export ------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_console_list_and_search(scene: Scene, role: str) -> None:
    client = scene.client(role)
    listing = client.get(reverse("workorders:orders"))
    assert listing.status_code == 200
    assert scene.report.number in text(listing)
    assert_clean(text(listing), where="order list")
    for q in (PHONE, PHONE[:7], NAME, NAME[:4], ID_NUMBER, ADDRESS[:5]):
        found = client.get(reverse("workorders:orders"), {"q": q})
        assert found.status_code == 200
        assert scene.report.number not in text(found), f"search {q!r} found the report"
        assert_clean(text(found), where=f"order search {q!r}", skip=(q,) if q in SECRETS else ())


@pytest.mark.parametrize("role", ROLES)
def test_console_order_detail(scene: Scene, role: str) -> None:
    response = scene.client(role).get(reverse("workorders:order", args=[scene.report.number]))
    assert response.status_code == 200
    body = text(response)
    assert scene.report.number in body
    assert "请核查被举报地点" in body  # the timeline is there …
    assert_clean(body, where="order detail")  # … the reporter is not


@pytest.mark.parametrize("role", ROLES)
def test_excel_export(scene: Scene, role: str) -> None:
    response = scene.client(role).get(reverse("workorders:orders"), {"export": "xlsx"})
    assert response.status_code == 200
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    with zipfile.ZipFile(io.BytesIO(raw)) as book:
        xml = "".join(book.read(name).decode("utf-8") for name in book.namelist() if name.endswith(".xml"))
    assert scene.report.number in xml
    assert scene.complaint.number in xml
    assert_clean(xml, where="xlsx export")


# ---- API -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_api_list_detail_and_search(scene: Scene, role: str) -> None:
    client = scene.client(role)
    listing = client.get("/api/workorders/orders")
    assert listing.status_code == 200
    assert scene.report.number in text(listing)
    assert_clean(text(listing), where="API list")
    detail = client.get(f"/api/workorders/orders/{scene.report.number}")
    assert detail.status_code == 200
    assert detail.json()["contact_name"] == "***"
    assert detail.json()["contact_masked"] is True
    assert_clean(text(detail), where="API detail")
    for q in (PHONE, PHONE[:7], NAME, ID_NUMBER):
        found = client.get("/api/workorders/orders", {"q": q})
        assert found.status_code == 200
        assert found.json()["total"] == 0, f"API search {q!r} found the report"


# ---- audit view ------------------------------------------------------------------------------


def test_audit_view_is_refused_to_the_agent(scene: Scene) -> None:
    assert scene.client("hotline_agent").get(reverse("core:audit")).status_code == 403


@pytest.mark.parametrize("role", ["auditor", "service_manager"])
def test_audit_view_never_shows_the_reporter(scene: Scene, role: str) -> None:
    # The manager opens the reporter once, so the trail holds a reveal row too.
    reveal = scene.client("service_manager").post(
        reverse("workorders:order_reporter", args=[scene.report.number])
    )
    assert reveal.status_code == 200
    response = scene.client(role).get(reverse("core:audit"), {"per_page": 200})
    assert response.status_code == 200
    body = text(response)
    assert scene.report.number in body
    assert "workorder.reporter_record" in body
    assert "workorder.reporter_view" in body
    assert_clean(body, where="audit view")
    for event in AuditEvent.objects.all():
        assert_clean(
            f"{event.before} {event.after} {event.reason} {event.object_repr}",
            where=f"audit row {event.action}",
        )


# ---- alerts --------------------------------------------------------------------------------


def test_major_report_alerts_carry_no_reporter(scene: Scene) -> None:
    alerts = StaffAlert.objects.filter(order=scene.report)
    recipients = {a.recipient.username for a in alerts}
    assert {"agent_c", "manager_c"} <= recipients
    for alert in alerts:
        assert_clean(alert.message, where="alert text")
    for role in ("hotline_agent", "service_manager"):
        client = scene.client(role)
        page = client.get(reverse("workorders:alerts"))
        assert page.status_code == 200
        assert scene.report.number in text(page)
        assert_clean(text(page), where=f"alerts page ({role})")
        api = client.get("/api/workorders/alerts")
        assert scene.report.number in text(api)
        assert_clean(text(api), where=f"API alerts ({role})")


# ---- workbench caller lookup ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["hotline_agent", "service_manager"])
def test_caller_lookup_by_the_reporters_phone_finds_no_report(scene: Scene, role: str) -> None:
    client = scene.client(role)
    for params in (
        {"q": PHONE},
        {"phone": PHONE},
        {"q": PHONE, "format": "json"},
        {"phone": PHONE, "format": "json"},
    ):
        response = client.get(reverse("workorders:caller"), params)
        assert response.status_code == 200
        body = text(response)
        assert scene.report.number not in body, params
        # The phone typed is echoed back as the caller's number; nothing else of the reporter.
        assert_clean(body, where=f"caller lookup {params}", skip=(PHONE,))
    # Sanity: the lookup does find a normal caller's open order by phone.
    found = client.get(reverse("workorders:caller"), {"phone": "13900001111"})
    assert scene.complaint.number in text(found)


def test_caller_lookup_is_refused_to_the_auditor(scene: Scene) -> None:
    assert scene.client("auditor").get(reverse("workorders:caller"), {"q": PHONE}).status_code == 403


# ---- portal of the reported customer -------------------------------------------------------


def test_reported_customers_portal_never_shows_the_report(scene: Scene) -> None:
    client = Client()
    client.force_login(scene.reported.user)
    mine = accept(account_number=scene.reported_account.number, subject="我自己的投诉")
    listing = client.get(reverse("portal:workorders"))
    assert listing.status_code == 200
    assert mine.number in text(listing)
    assert scene.report.number not in text(listing)
    assert "举报有人私拉电线窃电" not in text(listing)
    assert_clean(text(listing), where="portal list")
    assert client.get(reverse("portal:workorder", args=[scene.report.number])).status_code == 404
    detail = client.get(reverse("portal:workorder", args=[mine.number]))
    assert_clean(text(detail), where="portal detail")
    for url in ("/api/workorders/orders", f"/api/workorders/orders/{scene.report.number}"):
        response = client.get(url)
        assert response.status_code == 403
        assert_clean(text(response), where=url)
    home = client.get(reverse("portal:home"))
    assert scene.report.number not in text(home)
    assert_clean(text(home), where="portal home")


# ---- a report filed on the portal ----------------------------------------------------------


def rows_naming(order: WorkOrder, *, user: Any, customer: Customer) -> list[str]:
    """Every stored row, in any table, that refers both to ``order`` and to ``user`` or
    ``customer`` by a foreign key (the order's own row included)."""
    found: list[str] = []
    people = {get_user_model(): user, Customer: customer}
    for model in apps.get_models():
        fks = [f for f in model._meta.get_fields() if f.concrete and (f.many_to_one or f.one_to_one)]
        if model is WorkOrder:
            of_order: list[dict[str, Any]] = [{"pk": order.pk}]
        else:
            of_order = [{f.name: order} for f in fks if f.related_model is WorkOrder]
        for fk in fks:
            if fk.related_model not in people:
                continue
            for where in of_order:
                if model._default_manager.filter(**where, **{fk.name: people[fk.related_model]}).exists():
                    found.append(f"{model._meta.label}.{fk.name}")
    return found


def test_a_portal_report_is_linked_to_its_reporter_by_the_reporter_identity_only(
    customer_client: Any,
) -> None:
    """Staff holding every permission but the reporter one can read any table (admin, API,
    the database): only ``ReporterIdentity`` may tell which customer filed a portal report.
    The intake key of the form, sent twice, still files one report."""
    url = reverse("portal:workorder_new")
    key = customer_client.get(url, {"kind": "report"}).context["form"].initial["intake_key"]
    data = {"kind": "report", "category": "rpt_theft", "subject": "楼道有人私拉电线", "intake_key": key}
    assert customer_client.post(url, data).status_code == 302
    assert customer_client.post(url, data).status_code == 302
    report = WorkOrder.objects.get()
    links = rows_naming(report, user=customer_client.user, customer=customer_client.customer)
    assert links == ["workorders.ReporterIdentity.customer"]
    assert not AuditEvent.objects.filter(actor=customer_client.user).exists()


def test_a_counter_report_is_linked_to_its_caller_by_the_reporter_identity_only(
    make_user: Any, customer_client: Any
) -> None:
    """The caller found by the lookup files a report at the counter: the agent is the actor,
    the caller is the reporter and nothing else (not the order's customer or account)."""
    agent = make_user(roles=["counter_clerk"])
    client = Client()
    client.force_login(agent)
    caller = customer_client.customer
    form = client.get(reverse("workorders:workbench")).context["form"]
    response = client.post(
        reverse("workorders:workbench"),
        {
            "kind": "report",
            "channel": "counter",
            "category": "rpt_theft",
            "grade": "normal",
            "subject": "举报邻居窃电",
            "customer_id": caller.pk,
            "contact_name": caller.name,
            "contact_phone": caller.mobile,
            "account_number": customer_client.account.number,
            "reporter_wants_reply": "on",
            "intake_key": form.initial["intake_key"],
        },
    )
    assert response.status_code == 302
    report = WorkOrder.objects.get()
    assert report.reporter.customer_id == caller.pk
    links = rows_naming(report, user=customer_client.user, customer=caller)
    assert links == ["workorders.ReporterIdentity.customer"]


# ---- the reveal ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["hotline_agent", "auditor"])
def test_reveal_refused_without_the_permission_and_not_audited_as_a_view(scene: Scene, role: str) -> None:
    response = scene.client(role).post(reverse("workorders:order_reporter", args=[scene.report.number]))
    assert response.status_code == 403
    assert_clean(text(response), where=f"reveal refused ({role})")
    assert not AuditEvent.objects.filter(action="workorder.reporter_view").exists()


def test_reveal_shows_the_permitted_user_and_writes_an_audit_row(scene: Scene) -> None:
    client = scene.client("service_manager")
    url = reverse("workorders:order_reporter", args=[scene.report.number])
    assert client.get(url).status_code == 405  # POST only: no link or prefetch reveals it
    response = client.post(url)
    assert response.status_code == 200
    body = text(response)
    assert NAME in body
    assert PHONE in body
    assert response["Cache-Control"] == "private, no-store"
    rows = AuditEvent.objects.filter(action="workorder.reporter_view", object_id=str(scene.report.pk))
    assert rows.count() == 1
    assert rows.get().actor == scene.users["service_manager"]
    assert_clean(f"{rows.get().before} {rows.get().after} {rows.get().reason}", where="reveal audit row")
    # The next plain GET of the order page is masked again.
    again = client.get(reverse("workorders:order", args=[scene.report.number]))
    assert_clean(text(again), where="order page after the reveal")


def test_reveal_of_a_complaint_is_404(scene: Scene) -> None:
    url = reverse("workorders:order_reporter", args=[scene.complaint.number])
    assert scene.client("service_manager").post(url).status_code == 404


# ---- property: no reporter value is searchable, whatever it is -----------------------------

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)


@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(alphabet=CJK, min_size=2, max_size=6),
    phone=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
)
def test_api_search_never_finds_a_report_by_its_reporter(make_user: Any, name: str, phone: str) -> None:
    agent = make_user(roles=["hotline_agent"])
    client = Client()
    client.force_login(agent)
    report = work_order_create(
        actor=agent,
        kind="report",
        channel="hotline",
        category="rpt_theft",
        subject="Theft report",  # no CJK: a generated name can never match the subject
        reporter={"name": name, "phone": phone},
    )
    # The same values as a complaint's contact are found: the search itself works.
    control = accept(actor=agent, contact_name=name, contact_phone=phone, subject="Complaint")
    for q in (phone, phone[:7], name):
        numbers = {
            o["number"]
            for o in client.get("/api/workorders/orders", {"q": q, "per_page": 200}).json()["items"]
        }
        assert report.number not in numbers, q
        if q != name:  # names are matched on the customer, not the call-back name
            assert control.number in numbers, q
    body = client.get(f"/api/workorders/orders/{report.number}").content.decode()
    assert name not in body
    assert phone not in body
