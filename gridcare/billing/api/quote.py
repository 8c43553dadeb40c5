"""Billing API: quote (see docs/billing-*.md)."""

from ninja import Router

router = Router(tags=["billing-quote"])
