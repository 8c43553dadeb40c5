"""Billing API: bills (see docs/billing-*.md)."""

from ninja import Router

router = Router(tags=["billing-bills"])
