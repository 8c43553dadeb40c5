"""Line-loss dashboard pages (placeholder routes; the real views replace them)."""

from django.urls import path

from gridcare.inspection.views import not_built

urlpatterns = [
    path("line-loss/", not_built, name="lineloss"),
    path("line-loss/<int:area_id>/", not_built, name="lineloss_area"),
]
