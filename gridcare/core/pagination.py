"""One pagination helper for every list page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.paginator import Page, Paginator
from django.http import HttpRequest

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 200


def paginate(request: HttpRequest, items: Any, *, per_page: int = DEFAULT_PER_PAGE) -> Page:
    """Page ``items`` by the request's ``page`` (and optional ``per_page``) parameters.

    Out-of-range or junk page numbers give the last or first page instead of an error.
    """
    try:
        size = int(request.GET.get("per_page", per_page))
    except ValueError:
        size = per_page
    size = max(1, min(size, MAX_PER_PAGE))
    paginator = Paginator(items, size)
    return paginator.get_page(request.GET.get("page"))


def page_body(page: Page, item: Callable[[Any], Any]) -> dict[str, Any]:
    """The API's answer for one page of a list: ``{items, page, pages, total, per_page}``,
    each item of the page through ``item`` (docs/api.md, "Paged lists")."""
    return {
        "items": [item(obj) for obj in page.object_list],
        "page": page.number,
        "pages": page.paginator.num_pages,
        "total": page.paginator.count,
        "per_page": page.paginator.per_page,
    }
