"""Staff console of metering (电能计量), mounted at ``/metering/``."""

from django.urls import path

from gridcare.metering import views

app_name = "metering"
urlpatterns = [
    path("meters/", views.meter_search_view, name="meters"),
    path("meters/<int:pk>/", views.meter_detail_view, name="meter"),
    path("due/", views.meters_due_view, name="due"),
    path("exceptions/", views.exceptions_view, name="exceptions"),
    path("imports/", views.imports_view, name="imports"),
    path("imports/<int:pk>/", views.import_detail_view, name="import"),
    path("imports/<int:pk>/progress/", views.import_progress_view, name="import_progress"),
    path("imports/<int:pk>/rejected.csv", views.import_rejections_csv_view, name="import_rejections_csv"),
    path("verifications/", views.verifications_view, name="verifications"),
    path("verifications/new/", views.verification_new_view, name="verification_new"),
    path("verifications/<int:pk>/", views.verification_detail_view, name="verification"),
]
