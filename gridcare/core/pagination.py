"""One pagination helper for every list page."""

from __future__ import annotations

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
