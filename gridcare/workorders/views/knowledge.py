"""Knowledge base pages (知识库): console search, article, edit/new, and the portal FAQ.

* ``workorders:kb`` — search the articles (category filter, pagination, the query's words
  highlighted); an empty query lists the articles by category (``workorders.view_article``).
* ``workorders:kb_article`` — one article. Opened with ``?order=<number>`` by a user who
  may change work orders, it offers "use this article for order …": a POST links the
  article to the order (``article_link_to_order``: timeline event, use count, audit).
* ``workorders:kb_new`` / ``workorders:kb_edit`` — write an article
  (``workorders.add_article`` / ``workorders.change_article``).
* ``portal:faq`` (``portal_faq_view``, mounted by the lead under /portal/ from
  ``portal_urlpatterns``) — portal customers search the published articles.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from gridcare.core.errors import GridCareError, NotFound
from gridcare.core.pagination import paginate
from gridcare.core.permissions import customer_required, staff_required
from gridcare.core.roles import staff_has_perm
from gridcare.customers.forms import add_service_error
from gridcare.workorders.models import Article, ArticleCategory, WorkOrder
from gridcare.workorders.selectors.knowledge import (
    article_categories,
    article_get,
    article_search,
    query_tokens,
)
from gridcare.workorders.services.knowledge import article_link_to_order, article_save

__all__ = ["portal_faq_view", "portal_urlpatterns", "urlpatterns"]

SEARCH_LIMIT = 200
PER_PAGE = 20
SNIPPET_CHARS = 140


# ---- highlighting ---------------------------------------------------------------------------


def highlight(text: str, tokens: Sequence[str]) -> SafeString:
    """``text`` escaped, with every occurrence of the query's words wrapped in ``<mark>``
    (longest words first, case-insensitive)."""
    words = sorted({t for t in tokens if t}, key=len, reverse=True)
    if not words:
        return escape(text)
    pattern = re.compile("(" + "|".join(re.escape(w) for w in words) + ")", re.IGNORECASE)
    parts = pattern.split(text)
    out = [f"<mark>{escape(part)}</mark>" if i % 2 else escape(part) for i, part in enumerate(parts)]
    return mark_safe("".join(out))  # noqa: S308 - every piece is escaped above


def snippet(body: str, tokens: Sequence[str], size: int = SNIPPET_CHARS) -> str:
    """About ``size`` characters of ``body`` around the first word of the query it holds."""
    flat = " ".join(body.split())
    lowered = flat.lower()
    positions = [lowered.find(t) for t in tokens if t and lowered.find(t) >= 0]
    start = max(0, min(positions) - size // 4) if positions else 0
    piece = flat[start : start + size]
    return ("…" if start else "") + piece + ("…" if start + size < len(flat) else "")


def _rows(articles: Sequence[Article]) -> list[dict[str, Any]]:
    rows = []
    for article in articles:
        matched = getattr(article, "matched", [])
        # a one-character word (算, 交) marks half the text: highlight it only when alone
        tokens = [t for t in matched if len(t) > 1] or matched
        rows.append(
            {
                "article": article,
                "title": highlight(article.title, tokens),
                "snippet": highlight(snippet(article.body, tokens), tokens),
            }
        )
    return rows


# ---- console ----------------------------------------------------------------------------------


class SearchForm(forms.Form):
    q = forms.CharField(
        label=gettext_lazy("Search"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": gettext_lazy("e.g. 阶梯电价怎么算")}),
    )
    category = forms.ChoiceField(label=gettext_lazy("Category"), required=False)

    def __init__(self, *args: Any, categories: Sequence[ArticleCategory], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ChoiceField, self.fields["category"])
        field.choices = [("", gettext_lazy("All categories")), *[(c.code, c.name) for c in categories]]


def _search_context(request: HttpRequest) -> dict[str, Any]:
    categories = article_categories(user=request.user)
    form = SearchForm(request.GET or None, categories=categories)
    q, category = "", ""
    if form.is_valid():
        q = form.cleaned_data["q"].strip()
        category = form.cleaned_data["category"]
    elif form.is_bound:
        # An unknown category (an old link, a category since removed) drops the filter, not
        # the words: the search still runs on them, and the form says what was wrong.
        q = (form.data.get("q") or "").strip()[:200]
    articles = article_search(
        user=request.user, q=q, category=category or None, limit=SEARCH_LIMIT, browse=True
    )
    page = paginate(request, articles, per_page=PER_PAGE)
    keep = {k: v for k, v in (("q", q), ("category", category), ("order", request.GET.get("order", ""))) if v}
    return {
        "form": form,
        "q": q,
        "category": category,
        "categories": categories,
        "page": page,
        "rows": _rows(list(page.object_list)),
        "total": len(articles),
        "query_string": urlencode(keep),
        "order_number": request.GET.get("order", "").strip(),
    }


@require_GET
@staff_required("workorders.view_article")
def kb_search(request: HttpRequest) -> HttpResponse:
    """Search the knowledge base (知识库检索)."""
    return render(request, "workorders/knowledge_search.html", _search_context(request))


def _linkable_order(request: HttpRequest, number: str) -> WorkOrder | None:
    """The open order ``number`` if the user may change work orders, else None."""
    if not number or not staff_has_perm(request.user, "workorders.change_workorder"):
        return None
    return (
        WorkOrder.objects.filter(number=number)
        .only("id", "number", "version", "is_open", "kb_article")
        .first()
    )


@require_http_methods(["GET", "POST"])
@staff_required("workorders.view_article")
def kb_article(request: HttpRequest, code: str) -> HttpResponse:
    """One article; with ``?order=<number>`` the agent may link it to that order."""
    try:
        article = article_get(user=request.user, code=code)
    except NotFound as exc:
        raise Http404 from exc
    number = (request.POST.get("order_number") or request.GET.get("order") or "").strip()
    order = _linkable_order(request, number)
    if request.method == "POST":
        if order is None:
            messages.error(
                request, _("No open work order %(number)s that you may change.") % {"number": number}
            )
        else:
            version_raw = request.POST.get("version", "").strip()
            try:
                order = article_link_to_order(
                    actor=request.user,
                    order_id=order.pk,
                    article_id=article.pk,
                    expected_version=int(version_raw) if version_raw.isdigit() else None,
                )
            except GridCareError as exc:
                messages.error(request, str(exc.message))
            else:
                messages.success(
                    request,
                    _("Article %(code)s is linked to work order %(number)s.")
                    % {"code": article.code, "number": order.number},
                )
        url = reverse("workorders:kb_article", args=[article.code])
        return redirect(f"{url}?{urlencode({'order': number})}" if number else url)
    words = query_tokens(request.GET.get("q", ""))
    tokens = [t for t in words if len(t) > 1] or words
    context = {
        "article": article,
        "body": highlight(article.body, tokens),
        "order": order,
        "order_number": number,
        "can_edit": staff_has_perm(request.user, "workorders.change_article"),
    }
    return render(request, "workorders/knowledge_article.html", context)


class ArticleForm(forms.Form):
    code = forms.CharField(label=gettext_lazy("Code"), max_length=30)
    category_code = forms.ChoiceField(label=gettext_lazy("Category"))
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200)
    keywords = forms.CharField(
        label=gettext_lazy("Keywords"),
        max_length=300,
        required=False,
        help_text=gettext_lazy(
            "Words callers use for this subject, separated by spaces (they are searched too)."
        ),
    )
    body = forms.CharField(label=gettext_lazy("Text"), widget=forms.Textarea(attrs={"rows": 14}))
    is_published = forms.BooleanField(label=gettext_lazy("Published"), required=False, initial=True)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ChoiceField, self.fields["category_code"])
        field.choices = [(c.code, c.name) for c in ArticleCategory.objects.order_by("sort", "code")]
        if editing:
            self.fields["code"].disabled = True


def _article_form(request: HttpRequest, article: Article | None) -> HttpResponse:
    editing = article is not None
    initial = (
        {
            "code": article.code,
            "category_code": article.category.code,
            "title": article.title,
            "keywords": article.keywords,
            "body": article.body,
            "is_published": article.is_published,
        }
        if article is not None
        else {"is_published": True}
    )
    if request.method == "POST":
        form = ArticleForm(request.POST, initial=initial, editing=editing)
        if form.is_valid():
            data = form.cleaned_data
            try:
                saved = article_save(
                    actor=request.user,
                    code=article.code if article is not None else data["code"],
                    category_code=data["category_code"],
                    title=data["title"],
                    body=data["body"],
                    keywords=data["keywords"],
                    is_published=data["is_published"],
                )
            except GridCareError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, _("Article %(code)s saved.") % {"code": saved.code})
                return redirect("workorders:kb_article", code=saved.code)
    else:
        form = ArticleForm(initial=initial, editing=editing)
    return render(request, "workorders/knowledge_edit.html", {"form": form, "article": article})


@require_http_methods(["GET", "POST"])
@staff_required("workorders.view_article", "workorders.add_article")
def kb_new(request: HttpRequest) -> HttpResponse:
    """Write a new article."""
    return _article_form(request, None)


@require_http_methods(["GET", "POST"])
@staff_required("workorders.view_article", "workorders.change_article")
def kb_edit(request: HttpRequest, code: str) -> HttpResponse:
    """Edit an article (its code stays)."""
    article = Article.objects.select_related("category").filter(code=code).first()
    if article is None:
        raise Http404
    return _article_form(request, article)


# ---- portal -----------------------------------------------------------------------------------


@require_GET
@customer_required
def portal_faq_view(request: HttpRequest) -> HttpResponse:
    """常见问题: portal customers search the published articles."""
    context = _search_context(request)
    context["portal_section"] = "faq"
    return render(request, "workorders/knowledge_portal_faq.html", context)


urlpatterns = [
    path("kb/", kb_search, name="kb"),
    path("kb/new/", kb_new, name="kb_new"),
    path("kb/articles/<str:code>/", kb_article, name="kb_article"),
    path("kb/articles/<str:code>/edit/", kb_edit, name="kb_edit"),
]

#: Mounted by the lead inside the ``portal`` namespace under /portal/: ``portal:faq`` → /portal/faq/.
portal_urlpatterns = [path("faq/", portal_faq_view, name="faq")]
