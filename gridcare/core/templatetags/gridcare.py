"""Template filters shared by every page: money, masking, status badges."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django import template

from gridcare.core.engine.ids import mask_id_number, mask_mobile
from gridcare.core.money import format_rmb

register = template.Library()

# Badge colour per status value, shared by every app (add new statuses here).
STATUS_BADGES = {
    "active": "ok",
    "suspended": "warn",
    "closed": "muted",
    "draft": "info",
    "expired": "muted",
    "terminated": "danger",
}


@register.filter
def rmb(value: Decimal | int | str | None) -> str:
    """``{{ amount|rmb }}`` → ``¥1,234.56``."""
    if value is None or value == "":
        return "—"
    return format_rmb(value)


@register.filter
def mask_id(value: str | None) -> str:
    """``{{ customer.id_number|mask_id }}`` → ``110***********1234``."""
    return mask_id_number(value) if value else ""


@register.filter(name="mask_mobile")
def mask_mobile_filter(value: str | None) -> str:
    """``{{ customer.mobile|mask_mobile }}`` → ``138****5678``."""
    return mask_mobile(value) if value else ""


@register.filter
def badge(value: str) -> str:
    """The badge modifier for a status value: ``<span class="badge badge--{{ s|badge }}">``."""
    return STATUS_BADGES.get(str(value), "muted")


@register.simple_tag(takes_context=True)
def query_with(context: dict[str, Any], **changes: Any) -> str:
    """The current query string with some parameters replaced (for pagination links)."""
    request = context["request"]
    params = request.GET.copy()
    for key, value in changes.items():
        params[key] = value
    return "?" + urlencode(list(params.lists()), doseq=True)


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """``{{ mapping|get_item:key }}``: a dict lookup by a variable key (None when absent)."""
    if mapping is None:
        return None
    return mapping.get(key)
