"""Knowledge base services (article_save, article_link_to_order) and the demo seed."""

from __future__ import annotations

import pytest

from gridcare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.workorders.choices import EventType
from gridcare.workorders.demo_knowledge import ARTICLES, CATEGORIES, seed_knowledge
from gridcare.workorders.engine.segment import segment
from gridcare.workorders.models import Article, ArticleCategory, WorkOrder, WorkOrderEvent
from gridcare.workorders.services.knowledge import article_link_to_order, article_save
from gridcare.workorders.tests.factories import accept

pytestmark = pytest.mark.django_db


@pytest.fixture
def category(db):
    return ArticleCategory.objects.create(code="tariff", name="电价电费", name_en="Tariffs", sort=1)


@pytest.fixture
def editor(make_user):
    return make_user(roles=["marketing_manager"], first_name="芳", last_name="刘")


@pytest.fixture
def agent(make_user):
    return make_user(roles=["hotline_agent"], username="agent-kb")


@pytest.fixture
def article(category, editor):
    return article_save(
        actor=editor,
        code="KB-1",
        category_code="tariff",
        title="居民阶梯电价",
        body="第一档 0.52 元。",
        keywords="阶梯 电价",
    )


def audits(obj):
    return list(
        AuditEvent.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk)).order_by("id")
    )


# ---- article_save ---------------------------------------------------------------------------


def test_save_creates_with_search_text_and_audit(article, editor):
    assert article.updated_by == editor
    assert article.is_published is True
    assert article.search_text.split() == [
        *segment("居民阶梯电价"),
        *segment("居民阶梯电价"),
        *segment("阶梯 电价"),
        *segment("第一档 0.52 元。"),
    ]
    (row,) = audits(article)
    assert row.action == "create"
    assert row.actor == editor
    assert row.actor_label == "刘芳"
    assert row.after["title"] == "居民阶梯电价"


def test_save_updates_by_code_and_audits_only_the_change(article, editor):
    updated = article_save(
        actor=editor,
        code="KB-1",
        category_code="tariff",
        title="居民阶梯电价",
        body="第一档 0.52 元，第二档 0.57 元。",
        keywords="阶梯 电价",
    )
    assert updated.pk == article.pk
    assert Article.objects.count() == 1
    assert "0.57" in updated.search_text
    row = audits(article)[-1]
    assert row.action == "update"
    assert set(row.before) == {"body"}
    assert row.after == {"body": "第一档 0.52 元，第二档 0.57 元。"}


def test_saving_the_same_content_writes_nothing(article, editor):
    before = article.updated_at
    again = article_save(
        actor=editor,
        code="KB-1",
        category_code="tariff",
        title="居民阶梯电价",
        body="第一档 0.52 元。",
        keywords="阶梯  电价",
    )
    assert again.updated_at == before
    assert len(audits(article)) == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"code": ""}, "code"),
        ({"code": "has space"}, "code"),
        ({"code": "x" * 31}, "code"),
        ({"category_code": "nope"}, "category_code"),
        ({"category_code": ""}, "category_code"),
        ({"title": "  "}, "title"),
        ({"title": "标" * 201}, "title"),
        ({"body": ""}, "body"),
        ({"keywords": "词" * 301}, "keywords"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(category, editor, fields, field):
    values = {"code": "KB-2", "category_code": "tariff", "title": "标题", "body": "正文", "keywords": ""}
    values.update(fields)
    with pytest.raises(ValidationFailed) as exc:
        article_save(actor=editor, **values)
    assert exc.value.field == field
    assert Article.objects.count() == 0
    assert AuditEvent.objects.filter(object_type="workorders.article").count() == 0


def test_only_editors_may_save(category, agent, customer_client, article, editor):
    for actor in (agent, customer_client.user, None, ""):
        with pytest.raises(PermissionDenied):
            article_save(actor=actor, code="KB-3", category_code="tariff", title="t", body="b")
        with pytest.raises(PermissionDenied):
            article_save(actor=actor, code="KB-1", category_code="tariff", title="改", body="改")
    assert Article.objects.count() == 1
    assert Article.objects.get().title == "居民阶梯电价"


# ---- article_link_to_order --------------------------------------------------------------------


@pytest.fixture
def inquiry(agent):
    return accept(actor=agent, kind="inquiry", category="inq_tariff", subject="阶梯电价怎么算")


def test_link_sets_article_counts_use_and_writes_event_and_audit(inquiry, article, agent):
    version = inquiry.version
    order = article_link_to_order(
        actor=agent, order_id=inquiry.pk, article_id=article.pk, expected_version=version
    )
    order.refresh_from_db()
    assert order.kb_article_id == article.pk
    assert order.version == version + 1
    article.refresh_from_db()
    assert article.use_count == 1
    event = WorkOrderEvent.objects.filter(order=order, event_type=EventType.KB_LINK).get()
    assert event.actor == agent
    assert event.actor_label == "agent-kb"
    assert event.at == order.updated_at
    assert event.data == {"article_id": article.pk, "article_code": "KB-1", "replaced_article_id": None}
    row = audits(order)[-1]
    assert row.action == "kb_link"
    assert row.after == {"kb_article_id": article.pk, "version": version + 1}


def test_linking_the_same_article_again_changes_nothing(inquiry, article, agent):
    article_link_to_order(actor=agent, order_id=inquiry.pk, article_id=article.pk)
    order = article_link_to_order(actor=agent, order_id=inquiry.pk, article_id=article.pk)
    article.refresh_from_db()
    assert article.use_count == 1
    assert WorkOrderEvent.objects.filter(order=order, event_type=EventType.KB_LINK).count() == 1


def test_another_article_replaces_the_link(inquiry, article, agent, editor):
    other = article_save(actor=editor, code="KB-9", category_code="tariff", title="峰谷", body="峰谷电价")
    article_link_to_order(actor=agent, order_id=inquiry.pk, article_id=article.pk)
    article_link_to_order(actor=agent, order_id=inquiry.pk, article_id=other.pk)
    inquiry.refresh_from_db()
    assert inquiry.kb_article_id == other.pk
    last = WorkOrderEvent.objects.filter(order=inquiry, event_type=EventType.KB_LINK).last()
    assert last.data["replaced_article_id"] == article.pk


def _unchanged(order, article, version, events):
    order.refresh_from_db()
    article.refresh_from_db()
    assert order.version == version
    assert order.kb_article_id is None
    assert article.use_count == 0
    assert WorkOrderEvent.objects.filter(order=order).count() == events


def test_a_closed_order_is_refused(agent, article):
    answered = accept(actor=agent, kind="inquiry", category="inq_tariff", subject="电价", answer="已解答")
    assert answered.is_open is False
    events = WorkOrderEvent.objects.filter(order=answered).count()
    with pytest.raises(Conflict) as exc:
        article_link_to_order(actor=agent, order_id=answered.pk, article_id=article.pk)
    assert exc.value.field == "order_id"
    _unchanged(answered, article, answered.version, events)


def test_a_stale_version_is_a_conflict(inquiry, article, agent):
    events = WorkOrderEvent.objects.filter(order=inquiry).count()
    with pytest.raises(Conflict) as exc:
        article_link_to_order(
            actor=agent,
            order_id=inquiry.pk,
            article_id=article.pk,
            expected_version=inquiry.version - 1 or 99,
        )
    assert exc.value.field == "version"
    _unchanged(inquiry, article, inquiry.version, events)


def test_an_unpublished_article_is_refused(inquiry, article, agent, editor):
    draft = article_save(
        actor=editor, code="KB-D", category_code="tariff", title="草稿", body="草稿", is_published=False
    )
    with pytest.raises(ValidationFailed) as exc:
        article_link_to_order(actor=agent, order_id=inquiry.pk, article_id=draft.pk)
    assert exc.value.field == "article_id"
    _unchanged(inquiry, article, inquiry.version, WorkOrderEvent.objects.filter(order=inquiry).count())


def test_unknown_order_or_article_is_not_found(inquiry, article, agent):
    with pytest.raises(NotFound):
        article_link_to_order(actor=agent, order_id=999_999, article_id=article.pk)
    with pytest.raises(NotFound):
        article_link_to_order(actor=agent, order_id=inquiry.pk, article_id=999_999)


def test_linking_needs_change_workorder(inquiry, article, make_user, customer_client):
    for actor in (make_user(roles=["auditor"]), make_user(roles=["marketing_manager"]), customer_client.user):
        with pytest.raises(PermissionDenied):
            article_link_to_order(actor=actor, order_id=inquiry.pk, article_id=article.pk)
    _unchanged(inquiry, article, inquiry.version, WorkOrderEvent.objects.filter(order=inquiry).count())


# ---- demo seed --------------------------------------------------------------------------------


def test_seed_writes_30_plus_articles_in_every_category_and_is_idempotent():
    written = seed_knowledge()
    assert written == len(ARTICLES) >= 30
    assert Article.objects.count() == written
    assert ArticleCategory.objects.count() == len(CATEGORIES) == 8
    for code, *_ in CATEGORIES:
        assert Article.objects.filter(category__code=code, is_published=True).exists(), code
    assert all(a.search_text for a in Article.objects.all())
    audit_rows = AuditEvent.objects.filter(object_type="workorders.article").count()
    # again: updates in place, nothing new
    assert seed_knowledge() == written
    assert Article.objects.count() == written
    assert ArticleCategory.objects.count() == 8
    assert AuditEvent.objects.filter(object_type="workorders.article").count() == audit_rows


def test_seed_articles_are_substantial_and_follow_domain_rules():
    seed_knowledge()
    for article in Article.objects.all():
        assert len(article.body) >= 80, article.code
        assert article.body.count("。") >= 2, article.code
    tiered = Article.objects.get(code="KB-TAR-001").body
    # domain-rules §4: 180/280 kWh a month = 2160/3360 a year; 0.52/0.57/0.82 yuan
    for figure in ("2160", "3360", "0.52", "0.57", "0.82"):
        assert figure in tiered
    assert "4200" not in tiered
    assert "7 天" in Article.objects.get(code="KB-OUT-001").body
    assert "45 分钟" in Article.objects.get(code="KB-OUT-003").body
    assert "5 个工作日" in Article.objects.get(code="KB-CON-001").body
    assert "1‰" in Article.objects.get(code="KB-TAR-007").body


def test_seed_runs_before_an_order_uses_an_article(agent):
    seed_knowledge()
    order = accept(actor=agent, kind="inquiry", category="inq_tariff", subject="阶梯电价")
    article = Article.objects.get(code="KB-TAR-001")
    article_link_to_order(actor=agent, order_id=order.pk, article_id=article.pk)
    seed_knowledge()  # re-seeding keeps the use count
    article.refresh_from_db()
    assert article.use_count == 1
    assert WorkOrder.objects.get(pk=order.pk).kb_article_id == article.pk
