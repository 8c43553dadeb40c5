"""``{% refunds_to_decide %}``: how many refund requests (销户退费) wait for the signed-in
approver — the count beside *Refunds* in the collection sub-navigation."""

from __future__ import annotations

from typing import Any

from django import template

from gridcare.billing.selectors.refunds import refund_requests_to_decide_count

register = template.Library()


@register.simple_tag(takes_context=True)
def refunds_to_decide(context: dict[str, Any]) -> int:
    """Pending requests the user may decide (0 for anybody who may not: no query then)."""
    request = context.get("request")
    return refund_requests_to_decide_count(getattr(request, "user", None))
