"""Every write to the customer archive and the topology (one transaction each, audited)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridcare.core.audit import audit_record, diff, snapshot
from gridcare.core.engine.ids import id_number_problem, is_valid_mobile, uscc_problem
from gridcare.core.errors import Conflict, NotFound, ValidationFailed
from gridcare.core.ids import next_number
from gridcare.core.roles import CUSTOMER
from gridcare.customers.choices import (
    AccountStatus,
    AreaType,
    BasicChargeBasis,
    ContractKind,
    ContractStatus,
    CustomerClass,
    CustomerKind,
    ImportanceLevel,
    VoltageLevel,
)
from gridcare.customers.models import (
    Account,
    Contract,
    Customer,
    Feeder,
    ServicePoint,
    Substation,
    Transformer,
)

Actor = AbstractBaseUser | AnonymousUser | str | None

ACCOUNT_SEQUENCE = "account_number"
ACCOUNT_PREFIX = "05"  # county code prefix of every 户号 (10 digits: prefix + 8)
CONTRACT_SEQUENCE = "contract_number"

CUSTOMER_EDITABLE = (
    "name",
    "id_number",
    "credit_code",
    "mobile",
    "contact_person",
    "email",
    "postal_address",
)
ACCOUNT_EDITABLE = (
    "customer_class",
    "voltage_level",
    "tariff_code",
    "status",
    "importance",
    "is_prepaid",
    "closed_on",
    "suspended_on",
    "billing_mode_since",
)

# 销户 is final: later use of supply is a new connection (新装) with a new account.
ACCOUNT_CLOSED_IS_FINAL = _(
    "A closed account (销户) cannot be reopened: supply again needs a new connection (新装) "
    "with a new account."
)


# --- formatting of numbers ---------------------------------------------------------------


def account_number_format(value: int) -> str:
    """户号 from a sequence value: county prefix + 8 digits."""
    return f"{ACCOUNT_PREFIX}{value:08d}"


def contract_number_format(value: int, *, year: int) -> str:
    """合同编号: ``HT`` + year + 7 digits."""
    return f"HT{year}{value:07d}"


# --- validation (shared by services, forms and the seed) -----------------------------------


def _require_choice(value: str, choices: Any, field: str) -> None:
    if value not in choices.values:
        raise ValidationFailed(_("Choose one of the listed values."), field=field)


def customer_identity_clean(
    *, kind: str, id_number: str | None, credit_code: str | None, mobile: str
) -> tuple[str | None, str | None, str]:
    """Validate and normalise the identity fields of a customer; raise ValidationFailed."""
    _require_choice(kind, CustomerKind, "kind")
    mobile = (mobile or "").strip()
    if not is_valid_mobile(mobile):
        raise ValidationFailed(_("Enter an 11-digit mobile number starting with 1."), field="mobile")
    if kind == CustomerKind.PERSON:
        value = (id_number or "").strip().upper()
        problem = id_number_problem(value, today=timezone.localdate())
        if problem == "format":
            raise ValidationFailed(
                _("An ID card number has 17 digits and a final digit or X."), field="id_number"
            )
        if problem == "birth_date":
            raise ValidationFailed(
                _("The birth date inside the ID card number is not valid."), field="id_number"
            )
        if problem == "checksum":
            raise ValidationFailed(_("The ID card number's check digit is wrong."), field="id_number")
        return value, None, mobile
    code = (credit_code or "").strip().upper()
    problem = uscc_problem(code)
    if problem == "format":
        raise ValidationFailed(
            _("A unified social credit code has 18 letters and digits."), field="credit_code"
        )
    if problem == "checksum":
        raise ValidationFailed(
            _("The unified social credit code's check character is wrong."), field="credit_code"
        )
    return None, code, mobile


def _identity_unique(*, id_number: str | None, credit_code: str | None, exclude_pk: int | None) -> None:
    others = Customer.objects.exclude(pk=exclude_pk) if exclude_pk else Customer.objects.all()
    if id_number and others.filter(id_number=id_number).exists():
        raise ValidationFailed(_("A customer with this ID card number already exists."), field="id_number")
    if credit_code and others.filter(credit_code=credit_code).exists():
        raise ValidationFailed(_("A customer with this credit code already exists."), field="credit_code")


def _name_clean(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("Enter the name."), field="name")
    if len(name) > 100:
        raise ValidationFailed(_("The name is too long (100 characters at most)."), field="name")
    return name


def _contact_clean(
    *, contact_person: str | None, email: str | None, postal_address: str | None
) -> tuple[str, str, str]:
    """Normalise the optional contact fields; raise ValidationFailed naming the bad one."""
    contact_person = (contact_person or "").strip()
    email = (email or "").strip()
    postal_address = (postal_address or "").strip()
    if len(contact_person) > 50:
        raise ValidationFailed(
            _("The contact person is too long (50 characters at most)."), field="contact_person"
        )
    if len(email) > 254:  # the column's length (validate_email allows 320)
        raise ValidationFailed(_("The email address is too long (254 characters at most)."), field="email")
    if email:
        try:
            validate_email(email)
        except DjangoValidationError as exc:
            raise ValidationFailed(_("Enter a valid email address."), field="email") from exc
    if len(postal_address) > 200:
        raise ValidationFailed(
            _("The postal address is too long (200 characters at most)."), field="postal_address"
        )
    return contact_person, email, postal_address


def _identity_taken(id_number: str | None) -> ValidationFailed:
    """The error for a unique identity clash caught by the database (a concurrent 建档)."""
    if id_number:
        return ValidationFailed(_("A customer with this ID card number already exists."), field="id_number")
    return ValidationFailed(_("A customer with this credit code already exists."), field="credit_code")


# --- customers ----------------------------------------------------------------------------


def customer_create(
    *,
    actor: Actor,
    kind: str,
    name: str,
    mobile: str,
    id_number: str | None = None,
    credit_code: str | None = None,
    contact_person: str = "",
    email: str = "",
    postal_address: str = "",
) -> Customer:
    """建档: register a new customer after validating identity number and mobile."""
    name = _name_clean(name)
    id_number, credit_code, mobile = customer_identity_clean(
        kind=kind, id_number=id_number, credit_code=credit_code, mobile=mobile
    )
    contact_person, email, postal_address = _contact_clean(
        contact_person=contact_person, email=email, postal_address=postal_address
    )
    if kind == CustomerKind.ORGANISATION and not contact_person:
        raise ValidationFailed(_("An organisation needs a contact person."), field="contact_person")
    try:
        with transaction.atomic():
            _identity_unique(id_number=id_number, credit_code=credit_code, exclude_pk=None)
            customer = Customer.objects.create(
                kind=kind,
                name=name,
                id_number=id_number,
                credit_code=credit_code,
                id_tail=(id_number or credit_code or "")[-6:],
                mobile=mobile,
                contact_person=contact_person,
                email=email,
                postal_address=postal_address,
            )
            audit_record(
                actor=actor,
                obj=customer,
                action="customer.create",
                after=snapshot(customer, ("kind",) + CUSTOMER_EDITABLE),
            )
    except IntegrityError as exc:  # a concurrent 建档 with the same identity number won
        raise _identity_taken(id_number) from exc
    return customer


def customer_update(*, actor: Actor, customer_id: int, version: int, **changes: Any) -> Customer:
    """修改客户档案 with optimistic locking: ``version`` is the one the editor loaded.

    If somebody saved the customer since, :class:`Conflict` is raised and nothing changes.
    """
    unknown = set(changes) - set(CUSTOMER_EDITABLE)
    if unknown:
        raise ValidationFailed(_("This field cannot be changed here."), field=sorted(unknown)[0])
    id_number: str | None = None
    try:
        with transaction.atomic():
            customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
            if customer is None:
                raise NotFound()
            if customer.version != version:
                raise Conflict()
            before = snapshot(customer, CUSTOMER_EDITABLE)
            merged = {**before, **changes}
            merged["name"] = _name_clean(merged["name"])
            id_number, credit_code, mobile = customer_identity_clean(
                kind=customer.kind,
                id_number=merged.get("id_number"),
                credit_code=merged.get("credit_code"),
                mobile=merged["mobile"],
            )
            contact_person, email, postal_address = _contact_clean(
                contact_person=merged.get("contact_person"),
                email=merged.get("email"),
                postal_address=merged.get("postal_address"),
            )
            if customer.kind == CustomerKind.ORGANISATION and not contact_person:
                raise ValidationFailed(_("An organisation needs a contact person."), field="contact_person")
            _identity_unique(id_number=id_number, credit_code=credit_code, exclude_pk=customer.pk)
            customer.name = merged["name"]
            customer.id_number = id_number
            customer.credit_code = credit_code
            customer.id_tail = (id_number or credit_code or "")[-6:]
            customer.mobile = mobile
            customer.contact_person = contact_person
            customer.email = email
            customer.postal_address = postal_address
            customer.version = F("version") + 1
            customer.save()
            customer.refresh_from_db()
            old, new = diff(before, snapshot(customer, CUSTOMER_EDITABLE))
            if new:
                audit_record(actor=actor, obj=customer, action="customer.update", before=old, after=new)
    except IntegrityError as exc:  # a concurrent edit took the identity number meanwhile
        raise _identity_taken(id_number) from exc
    return customer


def customer_portal_login_create(*, actor: Actor, customer: Customer, username: str, password: str) -> Any:
    """开通网上营业厅: give a customer a portal login (group ``customer``)."""
    User = get_user_model()
    username = username.strip()
    if not username:
        raise ValidationFailed(_("Enter a user name."), field="username")
    if customer.user_id is not None:
        raise ValidationFailed(_("This customer already has a portal login."), field="username")
    try:
        validate_password(password)
    except DjangoValidationError as exc:
        raise ValidationFailed(" ".join(exc.messages), field="password") from exc
    with transaction.atomic():
        if User.objects.filter(username=username).exists():
            raise ValidationFailed(_("This user name is taken."), field="username")
        user = User.objects.create_user(username=username, password=password, first_name=customer.name[:150])
        user.groups.add(Group.objects.get(name=CUSTOMER))
        customer.user = user
        customer.save(update_fields=["user"])
        audit_record(actor=actor, obj=customer, action="customer.portal_login", after={"username": username})
    return user


# --- topology -----------------------------------------------------------------------------


def substation_create(*, actor: Actor, code: str, name: str, voltage_kv: int = 110) -> Substation:
    """Register a substation (变电站)."""
    with transaction.atomic():
        if Substation.objects.filter(code=code).exists():
            raise ValidationFailed(_("This code is already used."), field="code")
        sub = Substation.objects.create(code=code, name=_name_clean(name), voltage_kv=voltage_kv)
        audit_record(actor=actor, obj=sub, action="substation.create", after=snapshot(sub))
    return sub


def feeder_create(*, actor: Actor, code: str, name: str, substation: Substation) -> Feeder:
    """Register a 10 kV feeder (线路) on a substation."""
    with transaction.atomic():
        if Feeder.objects.filter(code=code).exists():
            raise ValidationFailed(_("This code is already used."), field="code")
        feeder = Feeder.objects.create(code=code, name=_name_clean(name), substation=substation)
        audit_record(actor=actor, obj=feeder, action="feeder.create", after=snapshot(feeder))
    return feeder


def transformer_create(
    *,
    actor: Actor,
    code: str,
    name: str,
    feeder: Feeder,
    capacity_kva: int,
    area_type: str,
    location: str = "",
    is_dedicated: bool = False,
) -> Transformer:
    """Register a transformer with its capacity and area type.

    A public transformer area (公变台区) unless ``is_dedicated``: a customer's own 专变.
    """
    _require_choice(area_type, AreaType, "area_type")
    if capacity_kva <= 0:
        raise ValidationFailed(_("Capacity must be positive."), field="capacity_kva")
    with transaction.atomic():
        if Transformer.objects.filter(code=code).exists():
            raise ValidationFailed(_("This code is already used."), field="code")
        tr = Transformer.objects.create(
            code=code,
            name=_name_clean(name),
            feeder=feeder,
            capacity_kva=capacity_kva,
            area_type=area_type,
            location=location,
            is_dedicated=is_dedicated,
        )
        audit_record(actor=actor, obj=tr, action="transformer.create", after=snapshot(tr))
    return tr


def service_point_create(
    *,
    actor: Actor,
    address: str,
    transformer: Transformer,
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
) -> ServicePoint:
    """Register a service point (用电地址) on a transformer area."""
    address = (address or "").strip()
    if not address:
        raise ValidationFailed(_("Enter the address."), field="address")
    with transaction.atomic():
        sp = ServicePoint.objects.create(
            address=address, transformer=transformer, latitude=latitude, longitude=longitude
        )
        audit_record(actor=actor, obj=sp, action="service_point.create", after=snapshot(sp))
    return sp


# --- accounts -----------------------------------------------------------------------------


def account_open(
    *,
    actor: Actor,
    customer: Customer,
    service_point: ServicePoint,
    customer_class: str,
    voltage_level: str,
    tariff_code: str = "",
    importance: str = "",
    is_prepaid: bool = False,
    opened_on: dt.date | None = None,
) -> Account:
    """立户: open an account (户号 from the county sequence) at a service point."""
    _require_choice(customer_class, CustomerClass, "customer_class")
    _require_choice(voltage_level, VoltageLevel, "voltage_level")
    _require_choice(importance, ImportanceLevel, "importance")
    with transaction.atomic():
        number = account_number_format(next_number(ACCOUNT_SEQUENCE))
        account = Account.objects.create(
            number=number,
            customer=customer,
            service_point=service_point,
            customer_class=customer_class,
            voltage_level=voltage_level,
            tariff_code=tariff_code.strip(),
            importance=importance,
            is_prepaid=is_prepaid,
            opened_on=opened_on or timezone.localdate(),
            status=AccountStatus.ACTIVE,
        )
        audit_record(actor=actor, obj=account, action="account.open", after=snapshot(account))
    return account


def account_update(*, actor: Actor, account_id: int, version: int, **changes: Any) -> Account:
    """修改用电户 (class, voltage, tariff, status, 重要用户, 费控) with optimistic locking.

    The dates billing reads (docs/billing-runs.md "Which accounts are billed") go with the
    changes: closing (销户) records ``closed_on`` and suspending (暂停) ``suspended_on``, the
    last day of supply (today when not given); making the account active clears both.
    Switching ``is_prepaid`` records ``billing_mode_since``, the first day in the new mode
    (today when not given). See :func:`_effective_dates` for what each date may be.

    销户 is final: a closed account stays closed (supply at that address again is a new
    connection, 新装, under a new account); only its closing date can still be corrected.
    """
    unknown = set(changes) - set(ACCOUNT_EDITABLE)
    if unknown:
        raise ValidationFailed(_("This field cannot be changed here."), field=sorted(unknown)[0])
    with transaction.atomic():
        account = Account.objects.select_for_update().filter(pk=account_id).first()
        if account is None:
            raise NotFound()
        if account.version != version:
            raise Conflict()
        before = snapshot(account, ACCOUNT_EDITABLE)
        was = Account(
            status=account.status,
            is_prepaid=account.is_prepaid,
            closed_on=account.closed_on,
            suspended_on=account.suspended_on,
            billing_mode_since=account.billing_mode_since,
        )
        for name, value in changes.items():
            setattr(account, name, value)
        _require_choice(account.customer_class, CustomerClass, "customer_class")
        _require_choice(account.voltage_level, VoltageLevel, "voltage_level")
        _require_choice(account.status, AccountStatus, "status")
        if was.status == AccountStatus.CLOSED and account.status != AccountStatus.CLOSED:
            raise ValidationFailed(ACCOUNT_CLOSED_IS_FINAL, field="status")
        _require_choice(account.importance, ImportanceLevel, "importance")
        _effective_dates(account, was=was, given=changes)
        account.tariff_code = (account.tariff_code or "").strip()
        account.version = F("version") + 1
        account.save()
        account.refresh_from_db()
        old, new = diff(before, snapshot(account, ACCOUNT_EDITABLE))
        if new:
            audit_record(actor=actor, obj=account, action="account.update", before=old, after=new)
    return account


def _effective_dates(account: Account, *, was: Account, given: dict[str, Any]) -> None:
    """Set and check the dates of a status or billing-mode change on ``account`` (``was``:
    the values before the edit; ``given``: the caller's changes).

    Every new date is today or an earlier day, never before the opening day, and never
    inside what is already settled (a bill that is not void, or a daily prepaid charge —
    ``billing.selectors.prepaid.account_settled_through``): the last day of supply of a
    closing or suspension is not before the last settled day, and a new billing mode starts
    after the last day settled in the old one. Dates not changed by the edit are not
    checked again."""
    from gridcare.billing.selectors.prepaid import account_settled_through

    today = timezone.localdate()
    settled: list[tuple[dt.date | None, dt.date | None]] = []

    def settled_through() -> tuple[dt.date | None, dt.date | None]:
        if not settled:
            settled.append(account_settled_through(account_id=account.pk))
        return settled[0]

    def check_day(day: dt.date, field: str) -> None:
        if day > today:
            raise ValidationFailed(_("The date cannot be in the future."), field=field)
        if day < account.opened_on:
            raise ValidationFailed(
                _("The date is before the opening date (%(day)s).") % {"day": account.opened_on}, field=field
            )

    def check_end_of_supply(day: dt.date, field: str) -> None:
        check_day(day, field)
        last = max((d for d in settled_through() if d is not None), default=None)
        if last is not None and day < last:
            raise ValidationFailed(
                _(
                    "The account is already billed or charged up to %(day)s: its last day of supply "
                    "cannot be earlier."
                )
                % {"day": last},
                field=field,
            )

    if (
        given.get("suspended_on") not in (None, was.suspended_on)
        and account.status != AccountStatus.SUSPENDED
    ):
        raise ValidationFailed(_("Only a suspension takes a suspension date."), field="suspended_on")
    if account.status == AccountStatus.CLOSED:
        if account.closed_on is None:
            account.closed_on = today
        if account.closed_on < account.opened_on:
            raise ValidationFailed(_("The closing date is before the opening date."), field="closed_on")
        if account.closed_on > today:  # 销户 records a closure that happened
            raise ValidationFailed(_("The closing date cannot be in the future."), field="closed_on")
        if account.closed_on != was.closed_on:
            check_end_of_supply(account.closed_on, "closed_on")
        account.suspended_on = was.suspended_on  # a suspension before the closing still ended supply
    elif account.status == AccountStatus.SUSPENDED:
        account.closed_on = None
        if account.suspended_on is None:
            account.suspended_on = today
        if account.suspended_on != was.suspended_on or was.status != AccountStatus.SUSPENDED:
            check_end_of_supply(account.suspended_on, "suspended_on")
    else:
        account.closed_on = None
        account.suspended_on = None
    if account.is_prepaid != was.is_prepaid:
        since = given.get("billing_mode_since") or today
        check_day(since, "billing_mode_since")
        if was.billing_mode_since is not None and since < was.billing_mode_since:
            raise ValidationFailed(
                _("The account has been in its current billing mode only since %(day)s.")
                % {"day": was.billing_mode_since},
                field="billing_mode_since",
            )
        billed, charged = settled_through()
        last = charged if was.is_prepaid else billed
        if last is not None and since <= last:
            if was.is_prepaid:
                message = _(
                    "The account is charged daily up to %(day)s: postpaid billing can start on %(next)s "
                    "at the earliest."
                )
            else:
                message = _(
                    "The account is billed up to %(day)s: prepaid (费控) can start on %(next)s "
                    "at the earliest."
                )
            raise ValidationFailed(
                message % {"day": last, "next": last + dt.timedelta(days=1)}, field="billing_mode_since"
            )
        earlier = was.billing_mode_since
        if (
            was.is_prepaid
            and earlier is not None
            and since != earlier
            and (billed is None or billed < earlier - dt.timedelta(days=1))
        ):
            # Only the latest switch is kept: switching back to postpaid would leave the
            # postpaid days before the earlier switch to prepaid to neither path.
            raise ValidationFailed(
                _(
                    "The account was postpaid until %(day)s and is not billed up to that day yet: "
                    "run and issue the bill of %(period)s first, then switch back to postpaid."
                )
                % {
                    "day": earlier - dt.timedelta(days=1),
                    "period": f"{earlier - dt.timedelta(days=1):%Y-%m}",
                },
                field="billing_mode_since",
            )
        # From the opening day, or undoing a switch on its own first day: always in this mode.
        account.billing_mode_since = None if since in (account.opened_on, was.billing_mode_since) else since
    elif given.get("billing_mode_since") not in (None, was.billing_mode_since):
        raise ValidationFailed(
            _("The billing-mode date changes only with the prepaid flag."), field="billing_mode_since"
        )
    else:
        account.billing_mode_since = was.billing_mode_since


# --- contracts ----------------------------------------------------------------------------


def contract_create(
    *,
    actor: Actor,
    account: Account,
    kind: str,
    capacity_kva: Decimal | int | str,
    start_date: dt.date,
    end_date: dt.date | None = None,
    signed_on: dt.date | None = None,
    terms: str = "",
    status: str = ContractStatus.ACTIVE,
    basic_charge_by: str = "",
    contracted_demand_kw: Decimal | int | str | None = None,
) -> Contract:
    """签订供用电合同: record a supply contract with its contracted capacity (and, for a
    two-part tariff, whether the basic charge is by capacity or by maximum demand)."""
    _require_choice(kind, ContractKind, "kind")
    _require_choice(status, ContractStatus, "status")
    _require_choice(basic_charge_by, BasicChargeBasis, "basic_charge_by")
    demand: Decimal | None = None
    if contracted_demand_kw not in (None, ""):
        try:
            demand = Decimal(str(contracted_demand_kw))
        except InvalidOperation as exc:
            raise ValidationFailed(_("Enter a number."), field="contracted_demand_kw") from exc
        if demand <= 0:
            raise ValidationFailed(_("The contracted demand must be positive."), field="contracted_demand_kw")
    try:
        capacity = Decimal(str(capacity_kva))
    except InvalidOperation as exc:
        raise ValidationFailed(_("Enter a number."), field="capacity_kva") from exc
    if capacity <= 0:
        raise ValidationFailed(_("Capacity must be positive."), field="capacity_kva")
    if end_date is not None and end_date < start_date:
        raise ValidationFailed(_("The end date is before the start date."), field="end_date")
    with transaction.atomic():
        number = contract_number_format(next_number(CONTRACT_SEQUENCE), year=start_date.year)
        try:
            contract = Contract.objects.create(
                number=number,
                account=account,
                kind=kind,
                capacity_kva=capacity,
                start_date=start_date,
                end_date=end_date,
                signed_on=signed_on,
                terms=terms,
                status=status,
                basic_charge_by=basic_charge_by,
                contracted_demand_kw=demand,
            )
        except IntegrityError as exc:  # pragma: no cover - guarded above; DB constraint as backstop
            raise ValidationFailed(str(exc)) from exc
        audit_record(actor=actor, obj=contract, action="contract.create", after=snapshot(contract))
    return contract
