"""Staff console of billing and collection (抄表收费), mounted at ``/billing/``.

Each area's view module declares its own ``urlpatterns`` (names prefixed by the area)."""

from gridcare.billing.views import bills, payments, prepaid, quote, runs

app_name = "billing"
urlpatterns = [
    *quote.urlpatterns,
    *runs.urlpatterns,
    *bills.urlpatterns,
    *payments.urlpatterns,
    *prepaid.urlpatterns,
]
