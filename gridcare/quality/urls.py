"""Staff console of service quality (服务质量), mounted at ``/quality/``."""

from django.urls import path
from django.views.generic import RedirectView

from gridcare.quality import views

app_name = "quality"
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="quality:standards", permanent=False), name="home"),
    *views.urlpatterns,
]
