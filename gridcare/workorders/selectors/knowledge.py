"""Knowledge base reads (知识库检索) and the intake form's category suggestions.

**Who sees what.** Staff holding ``workorders.view_article`` see published articles; those
who may also change articles (``workorders.change_article``) see unpublished drafts too.
Portal customers see published articles only. Anybody else sees nothing.

**Search.** The query is segmented exactly as the documents were (``engine/segment.py``);
an article matches when it holds *any* of the query's words (OR). Order: articles whose
title contains the whole query first (an exact title hit), then by relevance — PostgreSQL
``ts_rank`` over ``to_tsvector('simple', search_text)`` (the GIN expression index of
migration 0004), SQLite ``bm25`` over the FTS5 table — then by how often agents used the
article, then by code. A query with no usable word (empty, only punctuation or stop words
such as 怎么 / 请问) finds nothing; an empty query with ``browse=True`` lists the visible
articles in category order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Count, Q, QuerySet

from gridcare.core.errors import NotFound
from gridcare.core.roles import is_customer_user, staff_has_perm
from gridcare.workorders.engine.segment import suggest_categories, unique_tokens
from gridcare.workorders.models import Article, ArticleCategory, Category

__all__ = [
    "MAX_QUERY_TOKENS",
    "article_categories",
    "article_get",
    "article_search",
    "article_visible",
    "category_suggestions",
    "query_tokens",
]

#: A pasted paragraph is cut to its first words: enough to rank, cheap to run.
MAX_QUERY_TOKENS = 32


def article_visible(*, user: Any) -> QuerySet[Article]:
    """The articles ``user`` may read (see the module docstring)."""
    articles = Article.objects.select_related("category")
    if staff_has_perm(user, "workorders.view_article"):
        if staff_has_perm(user, "workorders.change_article"):
            return articles
        return articles.filter(is_published=True)
    if is_customer_user(user):
        return articles.filter(is_published=True)
    return articles.none()


def query_tokens(q: str) -> list[str]:
    """The distinct words of a query, first ``MAX_QUERY_TOKENS`` of them."""
    return unique_tokens(q or "")[:MAX_QUERY_TOKENS]


def _ranked_ids_postgresql(
    tokens: Sequence[str], *, phrase: str, published_only: bool, category: str | None, limit: int
) -> list[tuple[int, float]]:
    query = " || ".join(["plainto_tsquery('simple'::regconfig, %s)"] * len(tokens))
    where = ["to_tsvector('simple'::regconfig, a.search_text) @@ q.query"]
    params: list[Any] = [phrase, *tokens]
    if published_only:
        where.append("a.is_published")
    if category:
        where.append("c.code = %s")
        params.append(category)
    params.append(limit)
    sql = (
        "SELECT a.id, ts_rank(to_tsvector('simple'::regconfig, a.search_text), q.query, 1) AS rank, "  # noqa: S608 - only placeholders are interpolated
        "(strpos(lower(a.title), lower(%s)) > 0) AS title_hit "
        f"FROM workorders_article a JOIN workorders_articlecategory c ON c.id = a.category_id, "
        f"(SELECT {query} AS query) q "
        f"WHERE {' AND '.join(where)} "
        "ORDER BY title_hit DESC, rank DESC, a.use_count DESC, a.code LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(row[0], float(row[1])) for row in cursor.fetchall()]


def _fts5_term(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _ranked_ids_sqlite(
    tokens: Sequence[str], *, phrase: str, published_only: bool, category: str | None, limit: int
) -> list[tuple[int, float]]:
    where = ["workorders_article_fts MATCH %s"]
    params: list[Any] = [phrase, " OR ".join(_fts5_term(t) for t in tokens)]
    if published_only:
        where.append("a.is_published")
    if category:
        where.append("c.code = %s")
        params.append(category)
    params.append(limit)
    sql = (
        "SELECT a.id, -bm25(workorders_article_fts) AS rank, "  # noqa: S608 - only placeholders are interpolated
        "(instr(lower(a.title), lower(%s)) > 0) AS title_hit "
        "FROM workorders_article_fts "
        "JOIN workorders_article a ON a.id = workorders_article_fts.rowid "
        "JOIN workorders_articlecategory c ON c.id = a.category_id "
        f"WHERE {' AND '.join(where)} "
        "ORDER BY title_hit DESC, rank DESC, a.use_count DESC, a.code LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(row[0], float(row[1])) for row in cursor.fetchall()]


def article_search(
    *,
    user: Any,
    q: str,
    category: str | None = None,
    limit: int = 20,
    browse: bool = False,
) -> list[Article]:
    """The articles ``user`` may read that match ``q``, best first, at most ``limit``.

    Each article carries ``rank`` (higher is better; 0 when browsing) and ``matched``
    (the query's words, for highlighting). ``category`` is an ``ArticleCategory`` code.
    """
    limit = max(1, min(int(limit), 500))
    visible = article_visible(user=user)
    if category:
        visible = visible.filter(category__code=category)
    tokens = query_tokens(q)
    if not tokens:
        if browse and not (q or "").strip():
            rows = list(visible.order_by("category__sort", "category__code", "code")[:limit])
            for article in rows:
                article.rank = 0.0  # type: ignore[attr-defined]
                article.matched = []  # type: ignore[attr-defined]
            return rows
        return []
    if visible.query.is_empty():
        return []
    published_only = not staff_has_perm(user, "workorders.change_article")
    phrase = " ".join((q or "").split())
    ranker = _ranked_ids_postgresql if connection.vendor == "postgresql" else _ranked_ids_sqlite
    ranked = ranker(tokens, phrase=phrase, published_only=published_only, category=category, limit=limit)
    by_id = visible.in_bulk([pk for pk, _ in ranked])
    result = []
    for pk, rank in ranked:
        hit = by_id.get(pk)
        if hit is not None:
            hit.rank = rank  # type: ignore[attr-defined]
            hit.matched = tokens  # type: ignore[attr-defined]
            result.append(hit)
    return result


def article_get(*, user: Any, code: str) -> Article:
    """One article by code, if ``user`` may read it (otherwise ``NotFound``, never which)."""
    article = article_visible(user=user).filter(code=code).first()
    if article is None:
        raise NotFound(field="code")
    return article


def article_categories(*, user: Any = None) -> list[ArticleCategory]:
    """The knowledge categories in order, each with ``article_count``: the published
    articles (or, for ``user`` who may change articles, all of them)."""
    count_filter = (
        None if staff_has_perm(user, "workorders.change_article") else Q(articles__is_published=True)
    )
    return list(
        ArticleCategory.objects.annotate(article_count=Count("articles", filter=count_filter)).order_by(
            "sort", "code"
        )
    )


def category_suggestions(*, text: str, kind: str | None = None, limit: int = 3) -> list[Category]:
    """The active work-order categories (of ``kind`` when given) whose keywords the caller's
    words contain, best first (``engine.segment.suggest_categories``)."""
    categories = Category.objects.filter(is_active=True).exclude(keywords="")
    if kind:
        categories = categories.filter(kind=kind)
    rows = list(categories.order_by("kind", "sort", "code"))
    codes = suggest_categories(text, [(c.code, c.keywords) for c in rows], limit=limit)
    by_code = {c.code: c for c in rows}
    return [by_code[code] for code in codes]
