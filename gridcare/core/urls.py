"""Console shell: login, logout, the dashboard and the audit trail."""

from django.urls import path

from gridcare.core import views

app_name = "core"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("audit/", views.audit, name="audit"),
]
