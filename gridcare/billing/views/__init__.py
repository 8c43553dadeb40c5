"""Billing console views, one module per area; each module exposes ``urlpatterns``."""
