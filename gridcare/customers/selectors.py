"""Every shared read of the customer archive, scoped by the caller's role.

Staff with ``customers.view_customer`` see the whole archive; a portal customer sees only
their own customer record and accounts; anyone else sees nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from gridcare.core.errors import NotFound
from gridcare.core.roles import is_customer_user, is_staff_user
from gridcare.customers.choices import ContractStatus
from gridcare.customers.models import (
    Account,
    Contract,
    Customer,
    Feeder,
    Substation,
    Transformer,
)

SEARCH_FIELDS = ("all", "number", "name", "mobile", "id_tail", "address")
_DIGITS = re.compile(r"^\d+$")
_TAIL = re.compile(r"^\d{3,5}[\dXx]$")
# A whole 18-character 身份证号 or 统一社会信用代码: found exactly (both are unique).
_WHOLE_ID = re.compile(r"^[0-9A-Z]{18}$")


def customers_visible_to(user: Any) -> QuerySet[Customer]:
    """Customers ``user`` may see: all for archive staff, only their own for a customer."""
    if is_staff_user(user) and user.has_perm("customers.view_customer"):
        return Customer.objects.all()
    if is_customer_user(user):
        return Customer.objects.filter(user=user)
    return Customer.objects.none()


def accounts_visible_to(user: Any) -> QuerySet[Account]:
    """Accounts ``user`` may see: all for archive staff, only their own for a customer."""
    if is_staff_user(user) and user.has_perm("customers.view_account"):
        return Account.objects.all()
    if is_customer_user(user):
        return Account.objects.filter(customer__user=user)
    return Account.objects.none()


def customer_search(*, user: Any, q: str, field: str = "all") -> QuerySet[Customer]:
    """客户查询 by 户号, name, mobile, ID-number tail or address.

    ``field="all"`` guesses from the text: a whole 18-character ID number or credit code →
    that customer; 11 digits starting with 1 → mobile (or 户号); a 4–6 character tail of
    digits (last may be X) → ID tail; other digits → 户号 prefix; anything else → name or
    address contains. Full-width characters (１３８…) are read as ASCII.
    """
    base = customers_visible_to(user)
    # Full-width digits and letters from a Chinese input method (１３８…) count as ASCII.
    q = unicodedata.normalize("NFKC", q or "").strip()
    if not q:
        return base.order_by("-id")
    if field not in SEARCH_FIELDS:
        field = "all"
    cond: Q
    if field in ("all", "id_tail") and _WHOLE_ID.match(q.upper()):
        cond = Q(id_number=q.upper()) | Q(credit_code=q.upper())
        if field == "all" and _DIGITS.match(q):
            cond |= Q(accounts__number__startswith=q)
    elif field == "number":
        cond = Q(accounts__number__startswith=q)
    elif field == "name":
        cond = Q(name__icontains=q)
    elif field == "mobile":
        cond = Q(mobile__startswith=q)
    elif field == "id_tail":
        cond = Q(id_tail__endswith=q.upper())
    elif field == "address":
        cond = Q(accounts__service_point__address__icontains=q) | Q(postal_address__icontains=q)
    elif _DIGITS.match(q) and len(q) == 11 and q.startswith("1"):
        cond = Q(mobile=q) | Q(accounts__number=q)
    elif _TAIL.match(q):
        cond = (
            Q(id_tail__endswith=q.upper()) | Q(accounts__number__endswith=q)
            if len(q) >= 6
            else Q(id_tail__endswith=q.upper())
        )
    elif _DIGITS.match(q):
        cond = Q(accounts__number__startswith=q) | Q(mobile__startswith=q)
    else:
        cond = (
            Q(name__icontains=q)
            | Q(accounts__service_point__address__icontains=q)
            | Q(postal_address__icontains=q)
        )
    ids = base.filter(cond).values("id")
    return Customer.objects.filter(id__in=ids).order_by("-id")


def customer_list_page(qs: QuerySet[Customer]) -> QuerySet[Customer]:
    """Optimise a customer list for display (accounts prefetched, one query each)."""
    return qs.prefetch_related(
        Prefetch(
            "accounts",
            queryset=Account.objects.select_related("service_point").order_by("number"),
        )
    )


def _with_topology(accounts: QuerySet[Account]) -> QuerySet[Account]:
    """``accounts`` with their topology path and contracts, by 户号 (what the 360 view shows)."""
    return (
        accounts.select_related("service_point__transformer__feeder__substation")
        .prefetch_related(Prefetch("contracts", queryset=Contract.objects.order_by("-start_date")))
        .order_by("number")
    )


def customer_get(*, user: Any, customer_id: int, with_accounts: bool = True) -> Customer:
    """One customer; NotFound if not visible.

    ``with_accounts`` prefetches every account with its topology path and contracts; the
    360 page and the API page the accounts with :func:`customer_accounts`
    instead (an organisation may hold hundreds) and pass ``with_accounts=False``.
    """
    qs = customers_visible_to(user)
    if with_accounts:
        qs = qs.prefetch_related(Prefetch("accounts", queryset=_with_topology(Account.objects.all())))
    customer = qs.filter(pk=customer_id).first()
    if customer is None:
        raise NotFound()
    return customer


def customer_accounts(*, user: Any, customer: Customer) -> QuerySet[Account]:
    """The accounts of ``customer`` that ``user`` may see, with topology path and contracts,
    by 户号 (the customer 360's account list, to be paginated)."""
    return _with_topology(accounts_visible_to(user).filter(customer=customer))


def account_get(*, user: Any, number: str) -> Account:
    """One account by 户号 with its topology path; NotFound if not visible."""
    account = (
        accounts_visible_to(user)
        .select_related("customer", "service_point__transformer__feeder__substation")
        .prefetch_related(Prefetch("contracts", queryset=Contract.objects.order_by("-start_date")))
        .filter(number=number)
        .first()
    )
    if account is None:
        raise NotFound()
    return account


def contract_in_force(*, account_id: int, day: dt.date) -> Contract | None:
    """The 供用电合同 in force for an account on ``day`` (``None``: it has no active contract).

    The rule billing bills the basic charge by (``billing.services.period_data._contract_parts``,
    docs/billing-runs.md; ``customers/tests/test_selectors.py`` checks that both agree):

    - the latest-starting active contract whose dates cover the day (end date included; of
      two starting the same day, the later created, i.e. the higher id): a 减容 or a new
      contract takes over from its start, even before the old one's end date, and after a
      temporary 临时增容 the contract still in force is back;
    - a day no contract covers keeps the contract in force on the last covered day before it
      (合同到期未续签: the terms carry on until a new contract starts);
    - a day before any contract started takes the first one (the earliest-starting, the later
      created of two).

    One query when a contract covers the day, three otherwise.
    """
    active = Contract.objects.filter(account_id=account_id, status=ContractStatus.ACTIVE)

    def covering(on: dt.date) -> Contract | None:
        return (
            active.filter(Q(end_date__isnull=True) | Q(end_date__gte=on), start_date__lte=on)
            .order_by("-start_date", "-id")
            .first()
        )

    contract = covering(day)
    if contract is not None:
        return contract
    # Not covered: the last covered day before it is the latest end date before it (every
    # contract covers its own end date; one covering a later day would cover this one).
    lapsed_on = (
        active.filter(end_date__lt=day).order_by("-end_date").values_list("end_date", flat=True).first()
    )
    if lapsed_on is not None:
        return covering(lapsed_on)
    # Not covered and nothing ended before it: every contract starts after the day.
    return active.order_by("start_date", "-id").first()


def substation_tree() -> QuerySet[Substation]:
    """Substations with their feeder and transformer counts (topology browser, level 1)."""
    return Substation.objects.annotate(
        feeder_count=Count("feeders", distinct=True),
        transformer_count=Count("feeders__transformers", distinct=True),
    ).order_by("code")


def feeders_of(substation_id: int) -> QuerySet[Feeder]:
    """Feeders of a substation with transformer and account counts."""
    return (
        Feeder.objects.filter(substation_id=substation_id)
        .annotate(
            transformer_count=Count("transformers", distinct=True),
            account_count=Count("transformers__service_points__accounts", distinct=True),
        )
        .order_by("code")
    )


def transformers_of(feeder_id: int) -> QuerySet[Transformer]:
    """Transformers of a feeder (public 台区 and dedicated 专变) with their account counts."""
    return (
        Transformer.objects.filter(feeder_id=feeder_id)
        .annotate(
            account_count=Count("service_points__accounts", distinct=True),
        )
        .order_by("code")
    )


def accounts_of_transformer(transformer_id: int) -> QuerySet[Account]:
    """Accounts behind one transformer area (台区户表), with their customers."""
    return (
        Account.objects.filter(service_point__transformer_id=transformer_id)
        .select_related("customer", "service_point")
        .order_by("number")
    )
