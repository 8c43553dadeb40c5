"""Billing console: prepaid."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
