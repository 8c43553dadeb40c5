"""Staff console of work orders (95598 工单, 投诉举报), mounted at ``/workorders/``.

Each area's view module declares its own ``urlpatterns`` (names prefixed by the area)."""

from gridcare.workorders.views import knowledge, orders, workbench

app_name = "workorders"
urlpatterns = [
    *workbench.urlpatterns,
    *orders.urlpatterns,
    *knowledge.urlpatterns,
]
