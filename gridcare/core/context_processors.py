"""Template context shared by every page: the navigation of the nine service areas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from gridcare.core.roles import is_customer_user, is_staff_user


@dataclass(frozen=True)
class Area:
    """One entry of the console navigation."""

    key: str
    label: Any
    url_name: str | None  # None: the area is not built yet
    customer_facing: bool = False  # served to customers in the portal, not a console page

    @property
    def built(self) -> bool:
        return self.url_name is not None

    @property
    def url(self) -> str:
        if self.url_name is None:
            return ""
        try:
            return reverse(self.url_name)
        except NoReverseMatch:
            return ""


# The nine service areas of architecture.md plus the archive and service quality.
# An area whose url_name is None is shown greyed with "not built yet".
SERVICE_AREAS: tuple[Area, ...] = (
    Area("customers", _("Customer archive"), "customers:search"),
    Area("connections", _("New connections (业扩报装)"), None),
    Area("billing", _("Reading & billing (抄表收费)"), "billing:runs"),
    Area("inspection", _("Inspection (用电检查)"), "inspection:risk"),
    Area("metering", _("Metering (电能计量)"), "metering:meters"),
    Area("outages", _("Outage repair (电力抢修)"), None),
    Area("complaints", _("Complaints & reports (投诉举报)"), "workorders:orders"),
    Area("portal", _("24h inquiry (用电查询)"), "portal:home", customer_facing=True),
    Area("outreach", _("Service promotion (服务宣传)"), None),
    Area("orderly", _("Orderly power use (有序用电)"), None),
    Area("quality", _("Service quality (服务质量)"), "quality:standards"),
)


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Navigation entries and the viewer's kind (staff console or customer portal)."""
    user = getattr(request, "user", None)
    return {
        "service_areas": SERVICE_AREAS,
        "is_staff_user": is_staff_user(user),
        "is_customer_user": is_customer_user(user),
    }
