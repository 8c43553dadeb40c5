"""Inspection plans and tasks (placeholder routes; the real views replace them)."""

from django.urls import path

from gridcare.inspection.views import not_built

urlpatterns = [
    path("tasks/", not_built, name="tasks"),
    path("tasks/new/", not_built, name="task_new"),
    path("tasks/<int:task_id>/", not_built, name="task_detail"),
    path("plans/", not_built, name="plans"),
    path("photos/<int:photo_id>/", not_built, name="photo"),
]
