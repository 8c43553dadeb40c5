"""Staff console of the customer archive (客户档案) and the topology browser."""

from django.urls import path

from gridcare.customers import views

app_name = "customers"
urlpatterns = [
    path("", views.customer_search_view, name="search"),
    path("new/", views.customer_create_view, name="create"),
    path("<int:pk>/", views.customer_detail_view, name="detail"),
    path("<int:pk>/edit/", views.customer_edit_view, name="edit"),
    path("accounts/<int:pk>/edit/", views.account_edit_view, name="account_edit"),
    path("topology/", views.topology_view, name="topology"),
    path("topology/substations/<int:pk>/", views.topology_substation_view, name="topology_substation"),
    path("topology/feeders/<int:pk>/", views.topology_feeder_view, name="topology_feeder"),
    path("topology/transformers/<int:pk>/", views.topology_transformer_view, name="topology_transformer"),
]
