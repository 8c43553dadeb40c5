"""Billing API: runs (see docs/billing-*.md)."""

from ninja import Router

router = Router(tags=["billing-runs"])
