"""Staff console of service quality (服务质量), mounted at ``/quality/``."""

from gridcare.quality import views

app_name = "quality"
urlpatterns = [*views.urlpatterns]
