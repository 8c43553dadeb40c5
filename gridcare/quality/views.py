"""Placeholder until the SLA helper lands the standards pages."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
