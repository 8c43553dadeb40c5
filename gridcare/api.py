"""The one HTTP API object. Each app contributes a router from its ``api.py``.

Errors use one format everywhere: ``{"code": ..., "message": ..., "field": ...}``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError
from ninja.errors import HttpError as NinjaHttpError
from ninja.security import django_auth

from gridcare.core.errors import GridCareError, PermissionDenied
from gridcare.core.roles import is_staff_user


def _not_authenticated() -> dict[str, str | None]:
    return {"code": "not_authenticated", "message": str(_("Log in first.")), "field": None}


def _staff_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The OpenAPI schema and the docs page describe every endpoint, the console's included:
    console staff only. Anonymous callers get the API's 401, customers 403 (their portal does
    not need the API description)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return JsonResponse(_not_authenticated(), status=401)
        if not is_staff_user(request.user):
            denied = PermissionDenied()
            return JsonResponse(denied.as_dict(), status=denied.status)
        return view(request, *args, **kwargs)

    return wrapper


api = NinjaAPI(
    title="GridCare API",
    version="1",
    description="GridCare 电力营销客户服务管理系统 HTTP API. Session login with CSRF; "
    "every endpoint checks role and ownership.",
    auth=django_auth,
    urls_namespace="api",
    docs_url="/docs",
    docs_decorator=_staff_only,
)


@api.exception_handler(GridCareError)
def _gridcare_error(request: HttpRequest, exc: GridCareError) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.status)


@api.exception_handler(ValidationError)
def _schema_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    loc = [str(p) for p in first.get("loc", []) if p not in ("body", "query", "path", "payload")]
    return api.create_response(
        request,
        {
            "code": "validation_failed",
            "message": str(first.get("msg", "invalid input")),
            "field": ".".join(loc) or None,
            "errors": exc.errors,
        },
        status=422,
    )


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(request, _not_authenticated(), status=401)


@api.exception_handler(NinjaHttpError)
def _http_error(request: HttpRequest, exc: NinjaHttpError) -> HttpResponse:
    return api.create_response(
        request, {"code": "http_error", "message": str(exc), "field": None}, status=exc.status_code
    )


def _register_routers() -> None:
    from gridcare.billing.api import router as billing_router
    from gridcare.customers.api import router as customers_router
    from gridcare.inspection.api import router as inspection_router
    from gridcare.metering.api import router as metering_router
    from gridcare.portal.api import router as portal_router
    from gridcare.workorders.api import router as workorders_router

    api.add_router("/customers", customers_router)
    api.add_router("/metering", metering_router)
    api.add_router("/billing", billing_router)
    api.add_router("/workorders", workorders_router)
    api.add_router("/inspection", inspection_router)
    api.add_router("/portal", portal_router)


_register_routers()
