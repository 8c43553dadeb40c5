"""Billing API: payments (see docs/billing-*.md)."""

from ninja import Router

router = Router(tags=["billing-payments"])
