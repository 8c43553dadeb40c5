"""One error format everywhere (house-style rule 12): GridCareError.as_dict and the API's
mapping of every exception to ``{"code", "message", "field"}`` with its HTTP status."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.utils import translation
from ninja.errors import AuthenticationError, HttpError, ValidationError

from gridcare.api import api
from gridcare.core.errors import (
    Conflict,
    GridCareError,
    LoginThrottled,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)


def _body(response: HttpResponse) -> dict[str, Any]:
    return json.loads(response.content)


# --- GridCareError -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "code", "status"),
    [
        (GridCareError, "error", 400),
        (ValidationFailed, "validation_failed", 422),
        (NotFound, "not_found", 404),
        (PermissionDenied, "permission_denied", 403),
        (Conflict, "conflict", 409),
        (LoginThrottled, "login_throttled", 429),
    ],
)
def test_every_error_has_a_stable_code_status_and_default_message(
    cls: type[GridCareError], code: str, status: int
) -> None:
    error = cls()
    assert error.code == code
    assert error.status == status
    with translation.override("en"):
        assert error.as_dict() == {"code": code, "message": str(cls.default_message), "field": None}
    assert str(cls.default_message)


def test_as_dict_names_the_field_and_the_message() -> None:
    error = ValidationFailed("手机号码格式不正确", field="mobile")
    assert error.as_dict() == {
        "code": "validation_failed",
        "message": "手机号码格式不正确",
        "field": "mobile",
    }
    assert str(error) == "手机号码格式不正确"


def test_code_can_be_refined_per_instance_without_touching_the_class() -> None:
    error = Conflict(code="stale_version")
    assert error.as_dict()["code"] == "stale_version"
    assert Conflict.code == "conflict"
    assert Conflict().code == "conflict"


def test_lazy_messages_are_rendered_in_the_active_language() -> None:
    with translation.override("en"):
        assert NotFound().as_dict()["message"] == "Not found."


# --- the API's exception mapping ----------------------------------------------------


@pytest.fixture
def request_() -> Any:
    return RequestFactory().get("/api/anything")


@pytest.mark.parametrize(
    ("exc", "status", "expected"),
    [
        (
            ValidationFailed("金额必须大于零", field="amount"),
            422,
            {"code": "validation_failed", "message": "金额必须大于零", "field": "amount"},
        ),
        (NotFound("户号不存在"), 404, {"code": "not_found", "message": "户号不存在", "field": None}),
        (PermissionDenied("x"), 403, {"code": "permission_denied", "message": "x", "field": None}),
        (Conflict("x"), 409, {"code": "conflict", "message": "x", "field": None}),
        (LoginThrottled("x"), 429, {"code": "login_throttled", "message": "x", "field": None}),
        (
            AuthenticationError(),
            401,
            {"code": "not_authenticated", "message": "请先登录。", "field": None},
        ),
        (
            HttpError(405, "Method not allowed"),
            405,
            {"code": "http_error", "message": "Method not allowed", "field": None},
        ),
    ],
)
def test_api_maps_exceptions_to_the_one_error_format(
    request_: Any, exc: Exception, status: int, expected: dict[str, Any]
) -> None:
    response = api.on_exception(request_, exc)
    assert response.status_code == status
    assert _body(response) == expected


def test_api_maps_schema_errors_to_validation_failed_naming_the_field(request_: Any) -> None:
    errors = [{"type": "missing", "loc": ["body", "payload", "mobile"], "msg": "Field required"}]
    response = api.on_exception(request_, ValidationError(errors))
    assert response.status_code == 422
    assert _body(response) == {
        "code": "validation_failed",
        "message": "Field required",
        "field": "mobile",
        "errors": errors,
    }


def test_api_schema_error_without_a_location_has_no_field(request_: Any) -> None:
    errors = [{"type": "value_error", "loc": ["body"], "msg": "bad"}]
    body = _body(api.on_exception(request_, ValidationError(errors)))
    assert (body["code"], body["message"], body["field"]) == ("validation_failed", "bad", None)


# --- over HTTP ---------------------------------------------------------------------


@pytest.mark.django_db
def test_openapi_schema_is_served_to_staff(staff_client: Any) -> None:
    response = staff_client(roles=["hotline_agent"]).get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "GridCare API"
    assert schema["openapi"].startswith("3.")


@pytest.mark.django_db
def test_api_docs_page_is_served_to_staff(staff_client: Any) -> None:
    response = staff_client(roles=["hotline_agent"]).get("/api/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/openapi.json", "/api/docs"])
def test_api_schema_and_docs_need_a_login(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 401
    assert response.json() == {"code": "not_authenticated", "message": "请先登录。", "field": None}


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/openapi.json", "/api/docs"])
def test_api_schema_and_docs_are_not_for_customers(customer_client: Any, url: str) -> None:
    response = customer_client.get(url)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


@pytest.mark.django_db
def test_unauthenticated_portal_call_gets_401_in_the_error_format(client: Client) -> None:
    response = client.get("/api/portal/accounts")
    assert response.status_code == 401
    assert response.json() == {"code": "not_authenticated", "message": "请先登录。", "field": None}
