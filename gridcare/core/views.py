"""Console shell pages: login/logout, the staff dashboard and the audit-trail search."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from gridcare.core.context_processors import areas_for
from gridcare.core.engine.ids import mask_id_number
from gridcare.core.errors import LoginThrottled
from gridcare.core.forms import AuditSearchForm, LoginForm
from gridcare.core.models import AuditEvent
from gridcare.core.pagination import paginate
from gridcare.core.permissions import staff_required
from gridcare.core.roles import is_customer_user, is_staff_user
from gridcare.core.selectors import audit_events_search, audit_object_types, dashboard_figures
from gridcare.core.services import (
    login_failure_record,
    login_success_record,
    login_throttle_check,
)
from gridcare.core.workdays import calendar_gaps

BAD_LOGIN = _("The user name or password is not correct.")


# --- login / logout --------------------------------------------------------------------------


def _landing_url(user: Any) -> str:
    """Where a user goes after login: customers to the portal, everyone else to the console."""
    if is_customer_user(user) and not is_staff_user(user):
        return "portal:home"
    return "core:home"


def _safe_next(request: HttpRequest) -> str | None:
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest, template_name: str = "core/login.html") -> HttpResponse:
    """登录: one form for staff and customers, throttled per user name and client address.

    A locked-out user name or address gets the throttle message and the password is not
    even checked, so guessing cannot continue during the lock.
    """
    if request.method == "GET" and request.user.is_authenticated:
        return redirect(_landing_url(request.user))
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"]
        ip = request.META.get("REMOTE_ADDR") or None
        try:
            login_throttle_check(username=username, ip=ip)
        except LoginThrottled as exc:
            form.add_error(None, exc.message)
            status = exc.status
        else:
            user = authenticate(request, username=username, password=form.cleaned_data["password"])
            if user is None:
                login_failure_record(username=username, ip=ip)
                form.add_error(None, BAD_LOGIN)
            else:
                login_success_record(username=username)
                auth_login(request, user)
                return HttpResponseRedirect(_safe_next(request) or reverse(_landing_url(user)))
    context = {"form": form, "next": _safe_next(request) or ""}
    return render(request, template_name, context, status=status)


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    """退出: POST only (a link cannot log anybody out); customers return to the portal login."""
    target = (
        "portal:login"
        if is_customer_user(request.user) and not is_staff_user(request.user)
        else settings.LOGOUT_REDIRECT_URL
    )
    auth_logout(request)
    messages.info(request, _("You have been logged out."))
    return redirect(target)


# --- dashboard -------------------------------------------------------------------------------


@staff_required()
def _home(request: HttpRequest) -> HttpResponse:
    show_figures = request.user.has_perm("customers.view_account")
    context = {
        "figures": dashboard_figures() if show_figures else None,
        "areas": areas_for(request.user),
        "calendar_gaps": calendar_gaps(),
    }
    return render(request, "core/home.html", context)


def home(request: HttpRequest) -> HttpResponse:
    """工作台: the staff dashboard. Anonymous → login; portal customers → the portal."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if is_customer_user(request.user) and not is_staff_user(request.user):
        return redirect("portal:home")
    return _home(request)


# --- audit trail -----------------------------------------------------------------------------


def _json(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class Change:
    """One field of an audit event: its value before and after."""

    key: str
    before: str
    after: str
    had_before: bool
    has_after: bool


MASKED_KEYS = frozenset({"id_number"})


def _shown(key: str, value: Any, *, show_identity: bool) -> str:
    if key in MASKED_KEYS and value and not show_identity:
        return mask_id_number(str(value))
    return _json(value)


def audit_changes(event: AuditEvent, *, show_identity: bool = False) -> list[Change]:
    """The before/after JSON of ``event`` as one readable row per field.

    ID card numbers are masked unless the viewer may edit the archive (as on the 360 view).
    """
    before = event.before if isinstance(event.before, dict) else {}
    after = event.after if isinstance(event.after, dict) else {}
    keys = list(dict.fromkeys([*before, *after]))
    return [
        Change(
            key=key,
            before=_shown(key, before.get(key), show_identity=show_identity),
            after=_shown(key, after.get(key), show_identity=show_identity),
            had_before=key in before,
            has_after=key in after,
        )
        for key in keys
    ]


@staff_required("core.view_auditevent")
def audit(request: HttpRequest) -> HttpResponse:
    """审计日志: search the append-only audit trail (who, when, what, before/after)."""
    form = AuditSearchForm(request.GET or None, object_types=audit_object_types())
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    page = paginate(request, audit_events_search(**filters))
    show_identity = request.user.has_perm("customers.change_customer")
    rows = [(event, audit_changes(event, show_identity=show_identity)) for event in page.object_list]
    return render(request, "core/audit.html", {"form": form, "page": page, "rows": rows})
