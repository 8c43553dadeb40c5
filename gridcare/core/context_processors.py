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
    # The permission the landing page needs, and other pages of the area for a role that
    # lacks it (a meter technician sees bills but not billing runs): the first one the user
    # may open is linked; none: the area is shown without a link ("no access").
    perm: str = ""
    alternatives: tuple[tuple[str, str], ...] = ()

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


@dataclass(frozen=True)
class AreaLink:
    """An area as one user sees it: ``url`` is the page they may open, "" for none."""

    area: Area
    url: str

    @property
    def label(self) -> Any:
        return self.area.label

    @property
    def built(self) -> bool:
        return self.area.built

    @property
    def customer_facing(self) -> bool:
        return self.area.customer_facing

    @property
    def allowed(self) -> bool:
        return bool(self.url)


def areas_for(user: Any) -> list[AreaLink]:
    """The service areas with, for each, the first of its pages ``user`` may open."""
    links = []
    for area in SERVICE_AREAS:
        url = area.url
        if area.built and not area.customer_facing and area.perm:
            url = ""
            for url_name, perm in ((area.url_name, area.perm), *area.alternatives):
                if user is not None and user.has_perm(perm):
                    try:
                        url = reverse(url_name or "")
                    except NoReverseMatch:
                        continue
                    break
        links.append(AreaLink(area, url))
    return links


# The nine service areas of architecture.md plus the archive and service quality.
# An area whose url_name is None is shown greyed with "not built yet".
SERVICE_AREAS: tuple[Area, ...] = (
    Area("customers", _("Customer archive"), "customers:search", perm="customers.view_customer"),
    Area("connections", _("New connections (业扩报装)"), None),
    Area(
        "billing",
        _("Reading & billing (抄表收费)"),
        "billing:runs",
        perm="billing.view_billingrun",
        alternatives=(("billing:bills", "billing.view_bill"),),
    ),
    Area(
        "inspection",
        _("Inspection (用电检查)"),
        "inspection:risk",
        perm="inspection.view_riskscore",
        alternatives=(("inspection:tasks", "inspection.view_inspectiontask"),),
    ),
    Area("metering", _("Metering (电能计量)"), "metering:meters", perm="metering.view_meter"),
    Area("outages", _("Outage repair (电力抢修)"), None),
    Area(
        "complaints",
        _("Complaints & reports (投诉举报)"),
        "workorders:orders",
        perm="workorders.view_workorder",
    ),
    Area("portal", _("24h inquiry (用电查询)"), "portal:home", customer_facing=True),
    Area("outreach", _("Service promotion (服务宣传)"), None),
    Area("orderly", _("Orderly power use (有序用电)"), None),
    Area(
        "quality", _("Service quality (服务质量)"), "quality:standards", perm="quality.view_servicestandard"
    ),
)


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Navigation entries and the viewer's kind (staff console or customer portal)."""
    user = getattr(request, "user", None)
    return {
        "service_areas": areas_for(user) if is_staff_user(user) else SERVICE_AREAS,
        "is_staff_user": is_staff_user(user),
        "is_customer_user": is_customer_user(user),
    }
