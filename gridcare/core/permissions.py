"""View decorators: every console page checks role, every portal page checks ownership."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from gridcare.core.roles import is_customer_user, is_staff_user

View = Callable[..., HttpResponse]


def staff_required(*perms: str) -> Callable[[View], View]:
    """Console pages: anonymous → login; customers and staff without ``perms`` → 403."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not is_staff_user(user) or not user.has_perms(perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def customer_required(view: View) -> View:
    """Portal pages: anonymous → portal login; staff → 403 (they use the console)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url="portal:login")
        if not is_customer_user(user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper
