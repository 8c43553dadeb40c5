"""Billing console: quote."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
