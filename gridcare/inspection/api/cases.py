"""Inspection API: cases (routes added by the area)."""

from ninja import Router

router = Router(tags=["inspection"])
