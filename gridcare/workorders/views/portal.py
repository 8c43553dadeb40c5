"""Placeholder until the portal pages land."""

from django.urls import URLPattern

portal_urlpatterns: list[URLPattern] = []
