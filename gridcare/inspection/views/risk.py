"""Risk list and explanation pages (placeholder routes; the real views replace them)."""

from django.urls import path

from gridcare.inspection.views import not_built

urlpatterns = [
    path("", not_built, name="risk"),
    path("risk/runs/", not_built, name="scoring_runs"),
    path("risk/<int:account_id>/", not_built, name="risk_detail"),
]
