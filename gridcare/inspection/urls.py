"""Staff console of inspection and anti-theft (用电检查, 防窃电), mounted at ``/inspection/``.

Each area's view module declares its own ``urlpatterns`` (names fixed in docs/inspection.md)."""

from gridcare.inspection.views import cases, lineloss, risk, tasks

app_name = "inspection"
urlpatterns = [
    *risk.urlpatterns,
    *lineloss.urlpatterns,
    *tasks.urlpatterns,
    *cases.urlpatterns,
]
