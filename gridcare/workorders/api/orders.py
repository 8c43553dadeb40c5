"""Placeholder until the API helper lands."""

from ninja import Router

router = Router(tags=["work orders"])
