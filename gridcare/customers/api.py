"""HTTP API of the customer archive (客户档案), mounted at ``/api/customers``.

Staff only: portal customers use ``/api/portal``. Every endpoint checks the role itself and
answers with typed schemas, never the raw model. Errors use the one format
``{"code", "message", "field"}`` (see :mod:`gridcare.api`). Lists are paged with
:func:`gridcare.core.pagination.paginate` (``page``, ``per_page`` at most 200; a page past the
end gives the last page).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from gridcare.core.engine.ids import mask_id_number, mask_mobile
from gridcare.core.pagination import DEFAULT_PER_PAGE, page_body, paginate
from gridcare.core.roles import require_staff_perm
from gridcare.customers import selectors, services
from gridcare.customers.models import Account, Contract, Customer

router = Router(tags=["customers"])

SearchField = Literal["all", "number", "name", "mobile", "id_tail", "address"]


# --- schemas ------------------------------------------------------------------------------


class CustomerListItem(Schema):
    """One row of the customer search (mobile and identity number masked)."""

    id: int
    kind: str
    name: str
    mobile_masked: str
    identity_masked: str
    account_numbers: list[str]
    address: str


class CustomerPage(Schema):
    items: list[CustomerListItem]
    count: int
    page: int
    pages: int


class TopologyPath(Schema):
    """变电站 → 线路 → 台区 of an account."""

    substation_code: str
    substation_name: str
    feeder_code: str
    feeder_name: str
    transformer_code: str
    transformer_name: str
    area_type: str
    is_dedicated: bool


class ContractOut(Schema):
    number: str
    kind: str
    capacity_kva: Decimal
    start_date: dt.date
    end_date: dt.date | None
    signed_on: dt.date | None
    status: str


class AccountOut(Schema):
    id: int
    number: str
    customer_class: str
    voltage_level: str
    tariff_code: str
    status: str
    importance: str
    is_prepaid: bool
    opened_on: dt.date
    closed_on: dt.date | None
    suspended_on: dt.date | None
    billing_mode_since: dt.date | None
    address: str
    topology: TopologyPath
    contracts: list[ContractOut]


class AccountPage(Schema):
    """One page of a customer's accounts, by 户号."""

    items: list[AccountOut]
    page: int
    pages: int
    total: int
    per_page: int


class AccountPageQuery(Schema):
    """Declared for the OpenAPI schema and validation; :func:`paginate` reads them."""

    page: int = Field(1, description="Page number, from 1 (past the end: the last page).")
    per_page: int = Field(DEFAULT_PER_PAGE, description="Accounts per page (at most 200).")


class CustomerOut(Schema):
    """The customer 360 data. ``id_number`` is masked unless the caller may change customers.

    ``accounts`` holds the first 25 accounts by 户号 (an organisation may hold hundreds);
    ``accounts_total`` counts them all, and ``GET /api/customers/{id}/accounts`` pages them.
    """

    id: int
    kind: str
    name: str
    id_number: str | None
    credit_code: str | None
    mobile: str
    contact_person: str
    email: str
    postal_address: str
    version: int
    accounts: list[AccountOut] = Field(..., description="The first 25 accounts, by 户号.")
    accounts_total: int = Field(..., description="How many accounts the customer has.")


class AccountCustomer(Schema):
    id: int
    name: str
    kind: str


class AccountDetailOut(AccountOut):
    customer: AccountCustomer


class CustomerIn(Schema):
    """建档 input: a person needs ``id_number``, an organisation ``credit_code`` and a contact."""

    kind: Literal["person", "organisation"]
    name: str
    mobile: str
    id_number: str | None = None
    credit_code: str | None = None
    contact_person: str = ""
    email: str = ""
    postal_address: str = ""


# --- permission and conversion helpers ------------------------------------------------------


def _contract_out(contract: Contract) -> dict[str, Any]:
    return {
        "number": contract.number,
        "kind": contract.kind,
        "capacity_kva": contract.capacity_kva,
        "start_date": contract.start_date,
        "end_date": contract.end_date,
        "signed_on": contract.signed_on,
        "status": contract.status,
    }


def _account_out(account: Account) -> dict[str, Any]:
    transformer = account.service_point.transformer
    feeder = transformer.feeder
    substation = feeder.substation
    return {
        "id": account.pk,
        "number": account.number,
        "customer_class": account.customer_class,
        "voltage_level": account.voltage_level,
        "tariff_code": account.tariff_code,
        "status": account.status,
        "importance": account.importance,
        "is_prepaid": account.is_prepaid,
        "opened_on": account.opened_on,
        "closed_on": account.closed_on,
        "suspended_on": account.suspended_on,
        "billing_mode_since": account.billing_mode_since,
        "address": account.service_point.address,
        "topology": {
            "substation_code": substation.code,
            "substation_name": substation.name,
            "feeder_code": feeder.code,
            "feeder_name": feeder.name,
            "transformer_code": transformer.code,
            "transformer_name": transformer.name,
            "area_type": transformer.area_type,
            "is_dedicated": transformer.is_dedicated,
        },
        "contracts": [_contract_out(c) for c in account.contracts.all()],
    }


def _customer_out(customer: Customer, *, user: Any) -> dict[str, Any]:
    """The 360 data with the first page of the customer's accounts and their number."""
    id_number = customer.id_number
    if id_number and not user.has_perm("customers.change_customer"):
        id_number = mask_id_number(id_number)
    first = Paginator(selectors.customer_accounts(user=user, customer=customer), DEFAULT_PER_PAGE).page(1)
    return {
        "id": customer.pk,
        "kind": customer.kind,
        "name": customer.name,
        "id_number": id_number,
        "credit_code": customer.credit_code,
        "mobile": customer.mobile,
        "contact_person": customer.contact_person,
        "email": customer.email,
        "postal_address": customer.postal_address,
        "version": customer.version,
        "accounts": [_account_out(a) for a in first.object_list],
        "accounts_total": first.paginator.count,
    }


def _list_item(customer: Customer) -> dict[str, Any]:
    accounts = list(customer.accounts.all())
    identity = customer.identity_number
    return {
        "id": customer.pk,
        "kind": customer.kind,
        "name": customer.name,
        "mobile_masked": mask_mobile(customer.mobile),
        "identity_masked": mask_id_number(identity) if identity else "",
        "account_numbers": [a.number for a in accounts],
        "address": accounts[0].service_point.address if accounts else customer.postal_address,
    }


# --- endpoints ----------------------------------------------------------------------------


@router.get("/", response=CustomerPage, summary="Search customers (客户查询)")
def customer_list(
    request: HttpRequest, q: str = "", field: SearchField = "all", page: int = 1
) -> dict[str, Any]:
    """Search by 户号, name, mobile, ID tail or address; an empty ``q`` lists the newest.

    Mobile and identity numbers are masked in the list.
    """
    require_staff_perm(request.user, "customers.view_customer")
    customers = selectors.customer_search(user=request.user, q=q, field=field)
    result = paginate(
        request, selectors.customer_list_page(customers), per_page=settings.NINJA_PAGINATION_PER_PAGE
    )
    return {
        "items": [_list_item(c) for c in result.object_list],
        "count": result.paginator.count,
        "page": result.number,
        "pages": result.paginator.num_pages,
    }


@router.post("/", response={201: CustomerOut}, summary="Register a customer (建档)")
def customer_create(request: HttpRequest, payload: CustomerIn) -> dict[str, Any]:
    """Register a person (身份证) or an organisation (统一社会信用代码).

    Answers 201 with the new customer; invalid input answers 422 with the offending ``field``.
    """
    require_staff_perm(request.user, "customers.view_customer", "customers.add_customer")
    customer = services.customer_create(actor=request.user, **payload.model_dump())
    customer = selectors.customer_get(user=request.user, customer_id=customer.pk, with_accounts=False)
    return _customer_out(customer, user=request.user)  # the one response code: 201


@router.get(
    "/accounts/{number}",
    response=AccountDetailOut,
    summary="One account by 户号 with its topology path and contracts",
)
def account_detail(request: HttpRequest, number: str) -> dict[str, Any]:
    require_staff_perm(request.user, "customers.view_account")
    account = selectors.account_get(user=request.user, number=number)
    data = _account_out(account)
    data["customer"] = {
        "id": account.customer.pk,
        "name": account.customer.name,
        "kind": account.customer.kind,
    }
    return data


@router.get("/{int:customer_id}", response=CustomerOut, summary="Customer 360 (客户360视图)")
def customer_detail(request: HttpRequest, customer_id: int) -> dict[str, Any]:
    """Customer, its first 25 accounts by 户号 with their topology path and contracts, and
    the number of accounts (``accounts_total``); ``/{id}/accounts`` pages through them all."""
    require_staff_perm(request.user, "customers.view_customer")
    customer = selectors.customer_get(user=request.user, customer_id=customer_id, with_accounts=False)
    return _customer_out(customer, user=request.user)


@router.get(
    "/{int:customer_id}/accounts",
    response=AccountPage,
    summary="A customer's accounts, a page at a time (客户360 户号列表)",
)
def customer_account_list(
    request: HttpRequest, customer_id: int, paging: Query[AccountPageQuery]
) -> dict[str, Any]:
    """The customer's accounts by 户号 with their topology path and contracts; ``page`` and
    ``per_page`` (at most 200) as every list; a page past the end gives the last page."""
    require_staff_perm(request.user, "customers.view_customer")
    customer = selectors.customer_get(user=request.user, customer_id=customer_id, with_accounts=False)
    page = paginate(request, selectors.customer_accounts(user=request.user, customer=customer))
    return page_body(page, _account_out)
