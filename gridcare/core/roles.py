"""The role groups of architecture.md ("Who uses it").

The groups and their permissions are created by data migrations (``core`` 0002 and later
ones as apps arrive); this module names them for code and the UI.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

COUNTER_CLERK = "counter_clerk"
HOTLINE_AGENT = "hotline_agent"
BILLING_CLERK = "billing_clerk"
METERING_TECH = "metering_tech"
INSPECTOR = "inspector"
REPAIR_DISPATCHER = "repair_dispatcher"
REPAIR_CREW = "repair_crew"
SERVICE_MANAGER = "service_manager"
MARKETING_MANAGER = "marketing_manager"
AUDITOR = "auditor"
CUSTOMER = "customer"

STAFF_ROLES: dict[str, object] = {
    COUNTER_CLERK: _("Business hall clerk (营业厅受理员)"),
    HOTLINE_AGENT: _("95598 hotline agent (坐席)"),
    BILLING_CLERK: _("Meter reading & billing clerk (抄表核算员)"),
    METERING_TECH: _("Metering technician (计量人员)"),
    INSPECTOR: _("Power-use inspector (用电检查员)"),
    REPAIR_DISPATCHER: _("Repair dispatcher (抢修调度)"),
    REPAIR_CREW: _("Repair crew (抢修人员)"),
    SERVICE_MANAGER: _("Customer service manager (客服经理)"),
    MARKETING_MANAGER: _("Marketing manager (营销管理)"),
    AUDITOR: _("Auditor (审计)"),
}
ALL_ROLES: dict[str, object] = {**STAFF_ROLES, CUSTOMER: _("Customer (客户)")}


def user_roles(user: object) -> set[str]:
    """The role group names of ``user`` (cached on the user object for the request)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_gridcare_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]
        user._gridcare_roles = cached  # type: ignore[attr-defined]
    return cached


def is_staff_user(user: object) -> bool:
    """True for console users: superusers and members of any staff role."""
    if not getattr(user, "is_authenticated", False):
        return False
    if getattr(user, "is_superuser", False):
        return True
    return bool(user_roles(user) & STAFF_ROLES.keys())


def is_customer_user(user: object) -> bool:
    """True for portal users (the ``customer`` group)."""
    return CUSTOMER in user_roles(user)


def staff_has_perm(user: object, perm: str) -> bool:
    """True for a console user (not a portal customer) holding ``perm``: the check every
    staff-only selector makes before returning rows."""
    return bool(
        is_staff_user(user) and not is_customer_user(user) and user.has_perm(perm)  # type: ignore[attr-defined]
    )


def require_staff_perm(user: object, *perms: str) -> None:
    """Refuse (``core.errors.PermissionDenied``) anybody but a console user holding every one
    of ``perms``; portal customers never pass. The check of every staff API endpoint."""
    from gridcare.core.errors import PermissionDenied

    if not perms or not all(staff_has_perm(user, perm) for perm in perms):
        raise PermissionDenied()


def require_actor_perm(actor: object, perm: str) -> None:
    """The check of a service function: a system actor (a non-empty string such as
    ``"scheduler"`` or ``"gridcare seed"``: the worker, a command run by the operator) acts
    for the company; a person must be a console user holding ``perm``."""
    from gridcare.core.errors import PermissionDenied

    if isinstance(actor, str):
        if not actor.strip():
            raise PermissionDenied()
        return
    require_staff_perm(actor, perm)
