from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkordersConfig(AppConfig):
    """The 95598 work-order backbone (工单) and the complaint/report closed loop (投诉举报)."""

    name = "gridcare.workorders"
    verbose_name = _("Work orders (95598 工单)")
