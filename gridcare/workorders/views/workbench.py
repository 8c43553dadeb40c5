"""Placeholder until the area's helper lands its views."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
