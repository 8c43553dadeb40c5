"""Customer portal (mounted at /portal/)."""

from django.urls import path

from gridcare.core import views as core_views
from gridcare.portal import views
from gridcare.workorders.views import knowledge as workorder_knowledge
from gridcare.workorders.views import portal as workorder_portal

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", core_views.login, {"template_name": "portal/login.html"}, name="login"),
    path("accounts/<str:number>/", views.account, name="account"),
    path("profile/", views.profile, name="profile"),
    path("bills/", views.bills, name="bills"),
    path("bills/<int:pk>/", views.bill, name="bill"),
    path("bills/<int:pk>/notice.pdf", views.bill_pdf, name="bill_pdf"),
    path("payments/", views.payments, name="payments"),
    *workorder_portal.portal_urlpatterns,
    *workorder_knowledge.portal_urlpatterns,
]
