"""URL map: console at /, portal at /portal/, API at /api/ (OpenAPI docs at /api/docs)."""

from django.contrib import admin
from django.urls import include, path

from gridcare.api import api
from gridcare.core import views as core_views

urlpatterns = [
    path("", include("gridcare.core.urls")),
    path("customers/", include("gridcare.customers.urls")),
    path("metering/", include("gridcare.metering.urls")),
    path("billing/", include("gridcare.billing.urls")),
    path("workorders/", include("gridcare.workorders.urls")),
    path("quality/", include("gridcare.quality.urls")),
    path("inspection/", include("gridcare.inspection.urls")),
    path("portal/", include("gridcare.portal.urls")),
    path("api/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    # The admin signs in through the console's login (one form, one throttle: docs/roles.md
    # "Logins"); this path comes before the admin's own login view and takes its place.
    path("django-admin/login/", core_views.login),
    path("django-admin/", admin.site.urls),
]
