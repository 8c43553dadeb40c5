"""Knowledge base pages and API: the permission matrix (anonymous, customer, staff without
the permission, staff with it) and what each page does.

``client``, ``customer_client`` and ``staff_client`` share one test client (the last login
wins); anonymous requests use a fresh ``Client()``."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from gridcare.core.models import AuditEvent
from gridcare.workorders.choices import EventType
from gridcare.workorders.demo_knowledge import seed_knowledge
from gridcare.workorders.models import Article, WorkOrderEvent
from gridcare.workorders.services.knowledge import article_save
from gridcare.workorders.tests.factories import accept

pytestmark = pytest.mark.django_db


@pytest.fixture
def kb(db):
    return seed_knowledge()


@pytest.fixture
def draft(kb):
    return article_save(
        actor="test",
        code="KB-DRAFT",
        category_code="tariff",
        title="草稿电价说明",
        body="草稿正文。",
        is_published=False,
    )


def _without_view_article(make_user):
    """A console user whose role lost ``workorders.view_article`` (every staff role has it)."""
    user = make_user(roles=["auditor"])
    user.groups.get().permissions.remove(Permission.objects.get(codename="view_article"))
    return type(user).objects.get(pk=user.pk)


# ---- console pages ----------------------------------------------------------------------------

CONSOLE_READ = [
    ("workorders:kb", {}),
    ("workorders:kb_article", {"code": "KB-TAR-001"}),
]
CONSOLE_WRITE = [
    ("workorders:kb_new", {}),
    ("workorders:kb_edit", {"code": "KB-TAR-001"}),
]


@pytest.mark.parametrize(("name", "kwargs"), CONSOLE_READ + CONSOLE_WRITE)
def test_console_anonymous_goes_to_login(kb, client, name, kwargs):
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 302
    assert "login" in response["Location"]


@pytest.mark.parametrize(("name", "kwargs"), CONSOLE_READ + CONSOLE_WRITE)
def test_console_customer_is_refused(kb, customer_client, name, kwargs):
    assert customer_client.get(reverse(name, kwargs=kwargs)).status_code == 403


@pytest.mark.parametrize(("name", "kwargs"), CONSOLE_READ)
def test_console_staff_without_view_article_is_refused(kb, client, make_user, name, kwargs):
    client.force_login(_without_view_article(make_user))
    assert client.get(reverse(name, kwargs=kwargs)).status_code == 403


@pytest.mark.parametrize(("name", "kwargs"), CONSOLE_WRITE)
def test_console_staff_without_edit_rights_is_refused(kb, staff_client, name, kwargs):
    client = staff_client(roles=["hotline_agent"])
    assert client.get(reverse(name, kwargs=kwargs)).status_code == 403
    assert client.post(reverse(name, kwargs=kwargs), {"title": "x"}).status_code == 403


@pytest.mark.parametrize("role", ["hotline_agent", "counter_clerk", "auditor", "marketing_manager"])
@pytest.mark.parametrize(("name", "kwargs"), CONSOLE_READ)
def test_console_staff_with_view_article_reads(kb, staff_client, role, name, kwargs):
    assert staff_client(roles=[role]).get(reverse(name, kwargs=kwargs)).status_code == 200


@pytest.mark.parametrize(("name", "kwargs"), CONSOLE_WRITE)
def test_console_editors_open_the_forms(kb, staff_client, name, kwargs):
    assert staff_client(roles=["marketing_manager"]).get(reverse(name, kwargs=kwargs)).status_code == 200


def test_search_page_highlights_and_filters(kb, staff_client):
    client = staff_client(roles=["hotline_agent"])
    page = client.get(reverse("workorders:kb"), {"q": "阶梯电价怎么算"}).content.decode()
    assert "<mark>阶梯电价</mark>" in page
    assert reverse("workorders:kb_article", args=["KB-TAR-001"]) in page
    filtered = client.get(reverse("workorders:kb"), {"q": "电费", "category": "payment"}).content.decode()
    assert "KB-PAY-001" in filtered
    assert "KB-TAR-007" not in filtered
    empty = client.get(reverse("workorders:kb"), {"q": "卫星发射"}).content.decode()
    assert "KB-" not in empty
    # An unknown category (an old link) drops the filter, not the words: no list of everything.
    stale = client.get(reverse("workorders:kb"), {"q": "卫星发射", "category": "gone"})
    assert stale.status_code == 200
    assert "KB-" not in stale.content.decode()
    assert stale.context["q"] == "卫星发射"
    assert "category" in stale.context["form"].errors


def test_search_page_paginates_the_browse_list(kb, staff_client):
    client = staff_client(roles=["hotline_agent"])
    first = client.get(reverse("workorders:kb")).content.decode()
    second = client.get(reverse("workorders:kb"), {"page": 2}).content.decode()
    assert "KB-TAR-001" in first
    assert "KB-TAR-001" not in second
    assert "KB-PAY-" in second or "KB-CON-" in second


def test_drafts_show_only_to_editors(draft, staff_client, client, make_user):
    agent = staff_client(roles=["hotline_agent"])
    assert "KB-DRAFT" not in agent.get(reverse("workorders:kb"), {"q": "草稿"}).content.decode()
    assert agent.get(reverse("workorders:kb_article", args=["KB-DRAFT"])).status_code == 404
    client.force_login(make_user(roles=["marketing_manager"]))
    assert "KB-DRAFT" in client.get(reverse("workorders:kb"), {"q": "草稿"}).content.decode()
    assert client.get(reverse("workorders:kb_article", args=["KB-DRAFT"])).status_code == 200


def test_article_page_links_the_article_to_an_open_order(kb, staff_client):
    client = staff_client(roles=["hotline_agent"])
    order = accept(actor=client.user, kind="inquiry", category="inq_tariff", subject="阶梯电价")
    url = reverse("workorders:kb_article", args=["KB-TAR-001"])
    page = client.get(url, {"order": order.number}).content.decode()
    assert order.number in page
    assert 'name="version"' in page
    response = client.post(url, {"order_number": order.number, "version": order.version})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.kb_article.code == "KB-TAR-001"
    assert (
        WorkOrderEvent.objects.filter(order=order, event_type=EventType.KB_LINK, actor=client.user).count()
        == 1
    )
    assert Article.objects.get(code="KB-TAR-001").use_count == 1
    # a stale version (the page was open while someone else linked) changes nothing
    response = client.post(
        reverse("workorders:kb_article", args=["KB-TAR-002"]), {"order_number": order.number, "version": 1}
    )
    order.refresh_from_db()
    assert order.kb_article.code == "KB-TAR-001"
    assert Article.objects.get(code="KB-TAR-002").use_count == 0


def test_article_page_refuses_a_closed_order(kb, staff_client):
    client = staff_client(roles=["hotline_agent"])
    order = accept(actor=client.user, kind="inquiry", category="inq_tariff", subject="电价", answer="已答复")
    url = reverse("workorders:kb_article", args=["KB-TAR-001"])
    page = client.get(url, {"order": order.number}, headers={"Accept-Language": "en"})
    assert "closed" in page.content.decode()
    client.post(url, {"order_number": order.number})
    order.refresh_from_db()
    assert order.kb_article_id is None
    assert Article.objects.get(code="KB-TAR-001").use_count == 0


def test_linking_needs_change_workorder(kb, staff_client, make_user):
    order = accept(
        actor=make_user(roles=["hotline_agent"]), kind="inquiry", category="inq_tariff", subject="电价"
    )
    auditor = staff_client(roles=["auditor"])
    url = reverse("workorders:kb_article", args=["KB-TAR-001"])
    assert 'name="version"' not in auditor.get(url, {"order": order.number}).content.decode()
    auditor.post(url, {"order_number": order.number, "version": order.version})
    order.refresh_from_db()
    assert order.kb_article_id is None


def test_editor_creates_and_edits_an_article(kb, staff_client):
    client = staff_client(roles=["marketing_manager"])
    response = client.post(
        reverse("workorders:kb_new"),
        {
            "code": "KB-NEW-1",
            "category_code": "payment",
            "title": "农村信用社代扣电费",
            "keywords": "信用社 代扣",
            "body": "到当地农村信用社网点签约。",
            "is_published": "on",
        },
    )
    assert response.status_code == 302
    article = Article.objects.get(code="KB-NEW-1")
    assert article.updated_by == client.user
    response = client.post(
        reverse("workorders:kb_edit", args=["KB-NEW-1"]),
        {
            "code": "IGNORED",
            "category_code": "payment",
            "title": "农商行代扣电费",
            "keywords": "",
            "body": "签约。",
        },
    )
    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.code, article.title, article.is_published) == ("KB-NEW-1", "农商行代扣电费", False)
    assert AuditEvent.objects.filter(object_type="workorders.article", object_id=str(article.pk)).count() == 2


def test_edit_form_shows_the_service_error_on_the_field(kb, staff_client):
    client = staff_client(roles=["marketing_manager"])
    response = client.post(
        reverse("workorders:kb_new"),
        {"code": "bad code", "category_code": "payment", "title": "t", "body": "b"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["code"]
    assert not Article.objects.filter(title="t").exists()


def test_edit_of_an_unknown_article_is_404(kb, staff_client):
    client = staff_client(roles=["marketing_manager"])
    assert client.get(reverse("workorders:kb_edit", args=["NOPE"])).status_code == 404


# ---- portal FAQ -------------------------------------------------------------------------------


def test_portal_faq_matrix(kb, client, customer_client, staff_client):
    url = reverse("portal:faq")
    assert url == "/portal/faq/"
    response = Client().get(url)
    assert response.status_code == 302
    assert reverse("portal:login") in response["Location"]
    page = customer_client.get(url, {"q": "怎么交电费"}).content.decode()
    assert "<mark>电费</mark>" in page
    assert "费渠道一览" in page
    assert staff_client(roles=["hotline_agent"]).get(url).status_code == 403


def test_portal_faq_hides_drafts(draft, customer_client):
    page = customer_client.get(reverse("portal:faq"), {"q": "草稿电价"}).content.decode()
    assert "草稿电价说明" not in page


# ---- API --------------------------------------------------------------------------------------

API = "/api/workorders"


def test_api_search_matrix(kb, client, customer_client, staff_client, make_user):
    url = f"{API}/kb/search"
    assert Client().get(url, {"q": "电费"}).status_code == 401
    hits = customer_client.get(url, {"q": "阶梯电价怎么算"}).json()
    assert hits[0]["code"] == "KB-TAR-001"
    assert hits[0]["category"] == "tariff"
    other = _without_view_article(make_user)
    client.force_login(other)
    assert client.get(url, {"q": "电费"}).json()["code"] == "permission_denied"
    agent = staff_client(roles=["hotline_agent"])
    body = agent.get(url, {"q": "电费", "category": "payment", "limit": 3}).json()
    assert len(body) == 3
    assert {h["category"] for h in body} == {"payment"}
    assert agent.get(url, {"q": "卫星发射"}).json() == []


def test_api_article_matrix(draft, client, customer_client, staff_client):
    assert Client().get(f"{API}/kb/articles/KB-TAR-001").status_code == 401
    body = customer_client.get(f"{API}/kb/articles/KB-TAR-001").json()
    assert body["code"] == "KB-TAR-001"
    assert "0.52" in body["body"]
    assert customer_client.get(f"{API}/kb/articles/KB-DRAFT").status_code == 404
    editor = staff_client(roles=["marketing_manager"])
    assert editor.get(f"{API}/kb/articles/KB-DRAFT").json()["is_published"] is False


def test_api_link_matrix(kb, client, customer_client, staff_client, make_user):
    order = accept(
        actor=make_user(roles=["hotline_agent"]), kind="inquiry", category="inq_tariff", subject="电价"
    )
    url = f"{API}/kb/articles/KB-TAR-001/link"
    payload = json.dumps({"order_number": order.number, "version": order.version})
    assert Client().post(url, payload, content_type="application/json").status_code == 401
    assert customer_client.post(url, payload, content_type="application/json").status_code == 403
    auditor = staff_client(roles=["auditor"])
    assert auditor.post(url, payload, content_type="application/json").status_code == 403
    order.refresh_from_db()
    assert order.kb_article_id is None
    client.force_login(make_user(roles=["hotline_agent"]))
    response = client.post(url, payload, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {
        "order_number": order.number,
        "version": order.version + 1,
        "kb_article": "KB-TAR-001",
    }
    # the same version again is stale now
    stale = client.post(f"{API}/kb/articles/KB-TAR-002/link", payload, content_type="application/json")
    assert stale.status_code == 409
    assert stale.json()["field"] == "version"
    missing = client.post(url, json.dumps({"order_number": "NOPE"}), content_type="application/json")
    assert missing.status_code == 404
    assert missing.json()["field"] == "order_number"


def test_api_link_refuses_a_closed_order(kb, staff_client):
    client = staff_client(roles=["hotline_agent"])
    order = accept(actor=client.user, kind="inquiry", category="inq_tariff", subject="电价", answer="已答复")
    response = client.post(
        f"{API}/kb/articles/KB-TAR-001/link",
        json.dumps({"order_number": order.number}),
        content_type="application/json",
    )
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


def test_api_category_suggestions_matrix(client, customer_client, staff_client, make_user):
    url = f"{API}/categories/suggest"
    assert Client().get(url, {"text": "停电"}).status_code == 401
    assert customer_client.get(url, {"text": "停电"}).status_code == 403
    user = make_user(roles=["auditor"])
    user.groups.get().permissions.remove(Permission.objects.get(codename="view_category"))
    client.force_login(type(user).objects.get(pk=user.pk))
    assert client.get(url, {"text": "停电"}).status_code == 403
    agent = staff_client(roles=["hotline_agent"])
    body = agent.get(url, {"text": "家里停电了，什么时候来电", "kind": "inquiry"}).json()
    assert body[0] == {"code": "inq_outage", "name": "停电信息", "name_en": "Outages", "kind": "inquiry"}
    assert agent.get(url, {"text": "", "kind": "inquiry"}).json() == []
