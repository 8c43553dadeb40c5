"""Billing API: quote (电费试算, see docs/billing-tariffs.md).

``POST /api/billing/quote``: staff with ``billing.view_tariff`` (customers and other staff:
403). The body is the quote JSON; the answer the lines and the total as decimal strings.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from ninja import Router

from gridcare.billing.services.quote import bill_quote
from gridcare.core.errors import ValidationFailed
from gridcare.core.roles import require_staff_perm

router = Router(tags=["billing-quote"])

QUOTE_PERM = "billing.view_tariff"


@router.post("/quote", summary="Quote one period (电费试算)")
def quote(request: HttpRequest) -> dict[str, Any]:
    """Rate one made-up period with the catalogue in force: ``{"tariff", "period_start",
    "period_end", "registers": {"total"|"sharp"|"peak"|"flat"|"valley"|"deep_valley": kWh},
    "ytd_kwh_before", "max_demand_kw", "capacity_kva", "basic_charge_by", "reactive_kvarh"}``
    → ``{"lines": [{"item", "kind", "label", "kwh", "unit_price", "amount"}], "total", …}``."""
    require_staff_perm(request.user, QUOTE_PERM)
    try:
        payload = json.loads(request.body or b"null")
    except ValueError as exc:
        raise ValidationFailed(f"The body is not valid JSON ({exc}).", field=None) from exc
    return bill_quote(payload=payload)
