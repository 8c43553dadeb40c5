from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InspectionConfig(AppConfig):
    name = "gridcare.inspection"
    label = "inspection"
    verbose_name = _("Inspection (用电检查)")
