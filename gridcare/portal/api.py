"""Portal HTTP API (``/api/portal``): the logged-in customer's own profile, accounts and bills.

Staff and other non-customers get 403; an account number that is not the caller's is a
404 with the same body as a number that does not exist. The account and bill lists are paged
with :func:`gridcare.core.pagination.paginate` (an organisation may hold hundreds of accounts
and years of bills). The schemas are named ``My…`` so that the OpenAPI components do not
collide with the archive's ``AccountOut`` and ``ContractOut``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from gridcare.billing.api.bills import BillDetailOut, BillOut, bill_detail_out, bill_out
from gridcare.billing.selectors.bills import bill_get, bills_visible_to, with_outstanding
from gridcare.core.engine.ids import mask_id_number
from gridcare.core.errors import PermissionDenied
from gridcare.core.pagination import DEFAULT_PER_PAGE, page_body, paginate
from gridcare.core.roles import is_customer_user
from gridcare.customers.models import Account, Customer
from gridcare.customers.selectors import account_get
from gridcare.portal.selectors import my_accounts, my_customer

router = Router(tags=["portal"])


class ErrorOut(Schema):
    code: str
    message: str
    field: str | None = None


class MeOut(Schema):
    """The caller's customer record; the identity number is masked."""

    name: str
    kind: str
    identity_masked: str
    mobile: str
    email: str
    postal_address: str
    version: int


class MyAccountOut(Schema):
    """One of the caller's accounts (户号)."""

    number: str
    address: str
    customer_class: str
    customer_class_label: str
    voltage_level: str
    status: str
    status_label: str
    is_prepaid: bool
    opened_on: dt.date
    closed_on: dt.date | None


class MyAccountPage(Schema):
    """One page of the caller's accounts, by 户号."""

    items: list[MyAccountOut]
    page: int
    pages: int
    total: int
    per_page: int


class MyAccountPageQuery(Schema):
    """Declared for the OpenAPI schema and validation; :func:`paginate` reads them."""

    page: int = Field(1, description="Page number, from 1 (past the end: the last page).")
    per_page: int = Field(DEFAULT_PER_PAGE, description="Accounts per page (at most 200).")


class MyBillPage(Schema):
    """One page of the caller's issued bills, newest month first."""

    items: list[BillOut]
    page: int
    pages: int
    total: int
    per_page: int


class MyBillPageQuery(Schema):
    """Declared for the OpenAPI schema and validation; :func:`paginate` reads the paging."""

    account: str = Field("", description="Only this one of my accounts (户号).")
    page: int = Field(1, description="Page number, from 1 (past the end: the last page).")
    per_page: int = Field(DEFAULT_PER_PAGE, description="Bills per page (at most 200).")


class MyContractOut(Schema):
    number: str
    kind: str
    capacity_kva: str
    start_date: dt.date
    end_date: dt.date | None
    status: str


class MyAccountDetailOut(MyAccountOut):
    """An account with its supply path and contracts."""

    transformer: str
    feeder: str
    substation: str
    contracts: list[MyContractOut]


def _customer_user(request: HttpRequest) -> Any:
    user = request.user
    if not is_customer_user(user):
        raise PermissionDenied()
    return user


def _me(customer: Customer) -> MeOut:
    identity = customer.identity_number
    return MeOut(
        name=customer.name,
        kind=customer.kind,
        identity_masked=mask_id_number(identity) if identity else "",
        mobile=customer.mobile,
        email=customer.email,
        postal_address=customer.postal_address,
        version=customer.version,
    )


def _account_fields(account: Account) -> dict[str, Any]:
    return {
        "number": account.number,
        "address": account.service_point.address,
        "customer_class": account.customer_class,
        "customer_class_label": str(account.get_customer_class_display()),
        "voltage_level": account.voltage_level,
        "status": account.status,
        "status_label": str(account.get_status_display()),
        "is_prepaid": account.is_prepaid,
        "opened_on": account.opened_on,
        "closed_on": account.closed_on,
    }


@router.get("/me", response={200: MeOut, 403: ErrorOut, 404: ErrorOut})
def me(request: HttpRequest) -> MeOut:
    """My customer record (masked identity number)."""
    return _me(my_customer(user=_customer_user(request)))


@router.get("/accounts", response={200: MyAccountPage, 403: ErrorOut})
def accounts(request: HttpRequest, paging: Query[MyAccountPageQuery]) -> dict[str, Any]:
    """My accounts by number, a page at a time (``per_page`` at most 200; a page past the end
    gives the last page). Only my own, whatever the parameters."""
    page = paginate(request, my_accounts(user=_customer_user(request)))
    return page_body(page, lambda a: MyAccountOut(**_account_fields(a)))


@router.get("/accounts/{number}", response={200: MyAccountDetailOut, 403: ErrorOut, 404: ErrorOut})
def account_detail(request: HttpRequest, number: str) -> MyAccountDetailOut:
    """One of my accounts; someone else's number is 404 ``not_found``."""
    account = account_get(user=_customer_user(request), number=number)
    transformer = account.service_point.transformer
    return MyAccountDetailOut(
        **_account_fields(account),
        transformer=transformer.name,
        feeder=transformer.feeder.name,
        substation=transformer.feeder.substation.name,
        contracts=[
            MyContractOut(
                number=c.number,
                kind=c.kind,
                capacity_kva=str(c.capacity_kva),
                start_date=c.start_date,
                end_date=c.end_date,
                status=c.status,
            )
            for c in account.contracts.all()
        ],
    )


@router.get("/bills", response={200: MyBillPage, 403: ErrorOut})
def bills(request: HttpRequest, query: Query[MyBillPageQuery]) -> dict[str, Any]:
    """My issued bills (optionally of one of my accounts), newest month first, a page at a time
    (``per_page`` at most 200; a page past the end gives the last page). Only my own, whatever
    the parameters."""
    found = with_outstanding(bills_visible_to(_customer_user(request)).select_related("account"))
    if query.account.strip():
        found = found.filter(account__number=query.account.strip())
    page = paginate(request, found.order_by("-period", "account__number", "-pk"))
    return page_body(page, bill_out)


@router.get("/bills/{bill_id}", response={200: BillDetailOut, 403: ErrorOut, 404: ErrorOut})
def bill_detail(request: HttpRequest, bill_id: int) -> dict[str, Any]:
    """One of my bills with its lines, approved corrections and payments; another
    customer's bill is 404 ``not_found``."""
    return bill_detail_out(bill_get(user=_customer_user(request), bill_id=bill_id), adjustments=False)
