"""Billing API: prepaid (see docs/billing-*.md)."""

from ninja import Router

router = Router(tags=["billing-prepaid"])
