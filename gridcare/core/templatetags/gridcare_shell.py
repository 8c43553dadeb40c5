"""Template helpers of the application shell (header and navigation of every page)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext

from gridcare.core.audit import person_name
from gridcare.core.roles import ALL_ROLES, user_roles

register = template.Library()


@register.simple_tag
def user_role_labels(user: Any) -> list[str]:
    """The readable role names of ``user`` (superusers without a role: "Administrator")."""
    roles = user_roles(user)
    labels = [str(ALL_ROLES[name]) for name in ALL_ROLES if name in roles]
    if not labels and getattr(user, "is_superuser", False):
        labels = [gettext("Administrator")]
    return labels


@register.filter(name="person_name")
def person_name_filter(user: Any) -> str:
    """``{{ user|person_name }}``: 刘芳 for Chinese names, "Ann Lee" for Western ones."""
    return person_name(user)


@register.filter
def path_startswith(path: str, prefix: str) -> bool:
    """True when the request path lies under ``prefix`` (navigation highlight)."""
    return bool(prefix) and prefix != "/" and str(path).startswith(prefix)


@register.filter
def elided_pages(page: Any) -> list[Any]:
    """Page numbers around the current page, with ``…`` gaps (``Paginator.ELLIPSIS``)."""
    return list(page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1))
