"""Work-order API: knowledge base (知识库) and intake category suggestions, mounted at
``/api/workorders/`` (docs/workorders-knowledge.md).

- ``GET kb/search?q=&category=&limit=``: staff with ``workorders.view_article`` (drafts too
  with ``change_article``) or portal customers (published only); others 403.
- ``GET kb/articles/{code}``: one article, same rule (an invisible one is 404).
- ``POST kb/articles/{code}/link`` ``{"order_number", "version"?}``: record the article used
  for an open order (``workorders.change_workorder``).
- ``GET categories/suggest?text=&kind=``: the intake form's category suggestions (staff with
  ``workorders.view_category``).
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Field, Router, Schema

from gridcare.core.errors import NotFound, PermissionDenied
from gridcare.core.roles import is_customer_user, staff_has_perm
from gridcare.workorders.models import Article, WorkOrder
from gridcare.workorders.selectors.knowledge import article_get, article_search, category_suggestions
from gridcare.workorders.services.knowledge import article_link_to_order

router = Router(tags=["workorders-knowledge"])


class ArticleHit(Schema):
    code: str
    title: str
    category: str
    category_name: str
    keywords: str
    excerpt: str
    rank: float
    is_published: bool
    use_count: int


class ArticleOut(Schema):
    code: str
    title: str
    category: str
    category_name: str
    keywords: str
    body: str
    is_published: bool
    use_count: int
    updated_at: dt.datetime


class LinkIn(Schema):
    order_number: str = Field(..., min_length=1, max_length=20)
    version: int | None = Field(None, ge=1)


class LinkOut(Schema):
    order_number: str
    version: int
    kb_article: str


class CategoryOut(Schema):
    code: str
    name: str
    name_en: str
    kind: str


def _require_reader(request: HttpRequest) -> None:
    user = request.user
    if not (staff_has_perm(user, "workorders.view_article") or is_customer_user(user)):
        raise PermissionDenied()


def _excerpt(article: Article, size: int = 120) -> str:
    flat = " ".join(article.body.split())
    return flat[:size] + ("…" if len(flat) > size else "")


def _article_out(article: Article) -> ArticleOut:
    return ArticleOut(
        code=article.code,
        title=article.title,
        category=article.category.code,
        category_name=article.category.name,
        keywords=article.keywords,
        body=article.body,
        is_published=article.is_published,
        use_count=article.use_count,
        updated_at=article.updated_at,
    )


@router.get("/kb/search", response=list[ArticleHit], summary="Search the knowledge base (知识库检索)")
def kb_search(
    request: HttpRequest,
    q: str = "",
    category: str | None = None,
    limit: int = 20,
) -> list[ArticleHit]:
    """Articles matching any word of ``q`` (segmented as the articles are), best first; an
    exact title hit first. A query without a usable word gives an empty list."""
    _require_reader(request)
    hits = article_search(user=request.user, q=q, category=category or None, limit=max(1, min(limit, 100)))
    return [
        ArticleHit(
            code=a.code,
            title=a.title,
            category=a.category.code,
            category_name=a.category.name,
            keywords=a.keywords,
            excerpt=_excerpt(a),
            rank=round(float(getattr(a, "rank", 0.0)), 6),
            is_published=a.is_published,
            use_count=a.use_count,
        )
        for a in hits
    ]


@router.get("/kb/articles/{code}", response=ArticleOut, summary="One knowledge article")
def kb_article(request: HttpRequest, code: str) -> ArticleOut:
    _require_reader(request)
    return _article_out(article_get(user=request.user, code=code))


@router.post("/kb/articles/{code}/link", response=LinkOut, summary="Link the article used to a work order")
def kb_link(request: HttpRequest, code: str, payload: LinkIn) -> LinkOut:
    """Record that the article answered the open order: timeline event, use count, audit.
    A closed order or a stale ``version`` is 409; an unknown order or article 404."""
    if not staff_has_perm(request.user, "workorders.change_workorder"):
        raise PermissionDenied()
    article = article_get(user=request.user, code=code)
    order = WorkOrder.objects.filter(number=payload.order_number.strip()).only("id").first()
    if order is None:
        raise NotFound(field="order_number")
    linked = article_link_to_order(
        actor=request.user, order_id=order.pk, article_id=article.pk, expected_version=payload.version
    )
    return LinkOut(order_number=linked.number, version=linked.version, kb_article=article.code)


@router.get("/categories/suggest", response=list[CategoryOut], summary="Category suggestions for intake")
def categories_suggest(request: HttpRequest, text: str = "", kind: str | None = None) -> list[CategoryOut]:
    """Up to three active categories whose keywords the text contains (分类建议)."""
    if not staff_has_perm(request.user, "workorders.view_category"):
        raise PermissionDenied()
    return [
        CategoryOut(code=c.code, name=c.name, name_en=c.name_en, kind=c.kind)
        for c in category_suggestions(text=text, kind=kind or None)
    ]
