from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QualityConfig(AppConfig):
    """Service quality (服务质量): service standards (服务标准) and the SLA breach record KPIs read."""

    name = "gridcare.quality"
    verbose_name = _("Service quality (服务质量)")
