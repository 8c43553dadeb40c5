"""Cases and penalty rules (placeholder routes; the real views replace them)."""

from django.urls import path

from gridcare.inspection.views import not_built

urlpatterns = [
    path("cases/", not_built, name="cases"),
    path("cases/new/", not_built, name="case_new"),
    path("cases/<int:case_id>/", not_built, name="case_detail"),
    path("cases/<int:case_id>/notice/", not_built, name="case_notice"),
    path("cases/<int:case_id>/notice.pdf", not_built, name="case_notice_pdf"),
    path("penalty-rules/", not_built, name="penalty_rules"),
]
