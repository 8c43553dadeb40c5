"""Full-text search of the knowledge base on the database in use (SQLite FTS5 with bm25 or
PostgreSQL tsvector with ts_rank): run this file on both."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection

from gridcare.workorders.demo_knowledge import ARTICLES, seed_knowledge
from gridcare.workorders.models import Article, ArticleCategory, Category
from gridcare.workorders.selectors.knowledge import article_search, category_suggestions
from gridcare.workorders.services.knowledge import article_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def kb(db):
    return seed_knowledge()


@pytest.fixture
def agent(make_user):
    return make_user(roles=["hotline_agent"])


@pytest.fixture
def editor(make_user):
    return make_user(roles=["marketing_manager"])


def codes(articles):
    return [a.code for a in articles]


def test_the_index_objects_exist_after_migrate():
    # given a migrated database; then the index of migration 0004 is there (a later
    # migration that rebuilds workorders_article on SQLite would drop the triggers)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'workorders_article_search_gin'"
            )
            (indexdef,) = cursor.fetchone()
            assert "gin" in indexdef
            assert "to_tsvector('simple'::regconfig, search_text)" in indexdef
        else:
            cursor.execute("SELECT type, name FROM sqlite_master WHERE name LIKE 'workorders_article_fts%%'")
            found = set(cursor.fetchall())
            assert ("table", "workorders_article_fts") in found
            for trigger in (
                "workorders_article_fts_ai",
                "workorders_article_fts_ad",
                "workorders_article_fts_au",
            ):
                assert ("trigger", trigger) in found


@pytest.mark.parametrize(
    ("query", "expected_first"),
    [
        ("阶梯电价怎么算", "KB-TAR-001"),
        ("怎么交电费", "KB-PAY-001"),
        ("停电多久恢复", "KB-OUT-003"),
        ("电表不准怎么办", "KB-MTR-001"),
        ("我想在车位装个充电桩", "KB-CON-008"),
        ("交完费多久来电", "KB-PRE-002"),
        ("电费违约金", "KB-TAR-007"),
        ("房子买了要过户", "KB-CON-006"),
        ("光伏并网", "KB-CON-007"),
        ("计划停电提前几天通知", "KB-OUT-001"),
        ("电费突然变多", "KB-MTR-002"),
    ],
)
def test_chinese_questions_find_the_right_article_first(kb, agent, query, expected_first):
    found = article_search(user=agent, q=query)
    assert found, query
    assert found[0].code == expected_first


def test_a_query_matching_nothing_finds_nothing(kb, agent):
    assert article_search(user=agent, q="卫星发射火箭") == []
    assert article_search(user=agent, q="xyzzy") == []


def test_a_query_of_stop_words_or_punctuation_finds_nothing(kb, agent):
    assert article_search(user=agent, q="请问怎么？") == []
    assert article_search(user=agent, q="，。！") == []
    assert article_search(user=agent, q="") == []


def test_any_word_matches(kb, agent):
    # OR: each word finds its own article
    found = codes(article_search(user=agent, q="光伏 过户", limit=50))
    assert "KB-CON-007" in found
    assert "KB-CON-006" in found


def test_results_are_best_first_and_limited(kb, agent):
    found = article_search(user=agent, q="电费", limit=5)
    assert len(found) == 5
    # articles whose title holds 电费 first, each group by falling relevance
    hits = ["电费" in a.title for a in found]
    assert hits == sorted(hits, reverse=True)
    for group in (True, False):
        ranks = [a.rank for a, hit in zip(found, hits, strict=True) if hit is group]
        assert ranks == sorted(ranks, reverse=True)
    assert all(a.matched == ["电费"] for a in found)


def test_category_filter(kb, agent):
    found = article_search(user=agent, q="电费", category="payment", limit=50)
    assert found
    assert {a.category.code for a in found} == {"payment"}


def test_an_exact_title_hit_ranks_first(editor, agent):
    ArticleCategory.objects.create(code="t", name="测试", name_en="Test", sort=1)
    body_heavy = article_save(
        actor=editor,
        code="B",
        category_code="t",
        title="恢复供电说明",
        body="复电 时限 " * 30,
    )
    title_hit = article_save(
        actor=editor, code="A", category_code="t", title="复电时限", body="见营业厅公告。"
    )
    Article.objects.filter(pk=body_heavy.pk).update(use_count=50)
    found = article_search(user=agent, q="复电时限")
    assert [a.pk for a in found] == [title_hit.pk, body_heavy.pk]
    # without the whole title in the query, the body-heavy, more used article is not behind
    # because of the title rule
    assert {a.pk for a in article_search(user=agent, q="时限")} == {title_hit.pk, body_heavy.pk}


def test_editing_an_article_updates_the_index(kb, editor, agent):
    article = Article.objects.get(code="KB-CON-007")
    article_save(
        actor=editor,
        code=article.code,
        category_code="connection",
        title="屋顶发电并网",
        body="分布式发电项目的接入流程，以当地公布为准。",
        keywords="",
    )
    assert "KB-CON-007" not in codes(article_search(user=agent, q="光伏", limit=50))
    assert codes(article_search(user=agent, q="屋顶发电"))[0] == "KB-CON-007"


def test_deleting_an_article_removes_it_from_the_index(kb, agent):
    Article.objects.filter(code="KB-CON-007").delete()
    assert "KB-CON-007" not in codes(article_search(user=agent, q="光伏", limit=50))


def test_drafts_only_for_those_who_may_change_articles(kb, editor, agent, customer_client):
    article_save(
        actor=editor,
        code="DRAFT-1",
        category_code="tariff",
        title="草稿：新电价",
        body="草稿内容",
        is_published=False,
    )
    assert codes(article_search(user=editor, q="草稿"))[:1] == ["DRAFT-1"]
    assert article_search(user=agent, q="草稿") == []
    assert article_search(user=customer_client.user, q="草稿") == []
    # customers find published articles
    assert codes(article_search(user=customer_client.user, q="阶梯电价"))[0] == "KB-TAR-001"


def test_nobody_else_sees_anything(kb, make_user):
    auditor = make_user(roles=["auditor"])
    assert article_search(user=auditor, q="阶梯电价")
    auditor.groups.get().permissions.remove(Permission.objects.get(codename="view_article"))
    auditor = type(auditor).objects.get(pk=auditor.pk)
    assert article_search(user=auditor, q="阶梯电价") == []


def test_browse_lists_visible_articles_in_category_order(kb, agent):
    listed = article_search(user=agent, q="", browse=True, limit=500)
    assert len(listed) == kb
    sorts = [a.category.sort for a in listed]
    assert sorts == sorted(sorts)


def test_search_runs_in_few_queries(kb, agent, django_assert_max_num_queries):
    agent = type(agent).objects.get(pk=agent.pk)
    article_search(user=agent, q="预热")  # permissions cached on the user
    with django_assert_max_num_queries(2):
        found = article_search(user=agent, q="阶梯电价怎么算")
        assert [a.category.name for a in found]


def test_category_suggestions_use_active_categories():
    # the reference data (migration 0002) holds the inquiry categories with keywords
    suggested = category_suggestions(text="我想问一下阶梯电价，还有怎么交费", kind="inquiry")
    assert [c.code for c in suggested] == ["inq_tariff", "inq_payment"]
    assert category_suggestions(text="我想问一下阶梯电价", kind="report") == []
    # across kinds when no kind is given; an inactive category is never suggested
    assert {c.kind for c in category_suggestions(text="家里停电了", limit=10)} >= {"inquiry"}
    Category.objects.filter(code="inq_tariff").update(is_active=False)
    assert [c.code for c in category_suggestions(text="阶梯电价", kind="inquiry")] == []


@pytest.mark.postgresql
def test_postgresql_matches_through_the_gin_expression_index(kb):
    # the selector's match expression is the index's expression, so the planner can use it
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM workorders_article "
            "WHERE to_tsvector('simple'::regconfig, search_text) @@ plainto_tsquery('simple'::regconfig, %s)",
            ["电费"],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "workorders_article_search_gin" in plan


def test_every_seeded_article_is_found_first_by_its_title_and_by_its_keywords(kb, agent):
    for code, _category, title, keywords, _body in ARTICLES:
        assert codes(article_search(user=agent, q=title))[:1] == [code], title
        assert code in codes(article_search(user=agent, q=keywords, limit=10)), keywords
