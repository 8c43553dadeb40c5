"""Services of the customer archive: every write validated, atomic and audited.

The module-level builders (``make_*``, ``valid_id_number``, ``valid_credit_code``) are the
test data helpers of this app's tests; they go through the real services (house style 16).
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import factory
import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from gridcare.core.engine.ids import id_check_char, uscc_check_char
from gridcare.core.errors import Conflict, NotFound, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.customers import services
from gridcare.customers.choices import AccountStatus, AreaType, CustomerKind
from gridcare.customers.models import Account, Customer, ServicePoint, Transformer

# --- builders -----------------------------------------------------------------------------

_serial = itertools.count(1)


def valid_id_number(serial: int | None = None, *, born: str = "19850312") -> str:
    """An 18-character 身份证 number with a correct check character."""
    n = next(_serial) if serial is None else serial
    first17 = f"330102{born}{n % 1000:03d}"
    return first17 + id_check_char(first17)


def valid_credit_code(serial: int | None = None) -> str:
    """An 18-character 统一社会信用代码 with a correct check character."""
    n = next(_serial) if serial is None else serial
    first17 = f"91330102MA{n % 10_000_000:07d}"
    return first17 + uscc_check_char(first17)


def wrong_check_char(value: str) -> str:
    """``value`` with its last character replaced by a wrong one."""
    return value[:-1] + ("0" if value[-1] != "0" else "1")


class UserFactory(factory.django.DjangoModelFactory):
    """A login; pass ``role="counter_clerk"`` (a group created by the migrations)."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Sequence(lambda n: f"用户{n}")
    password = factory.django.Password("test-password-123")

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


def make_user(role: str | None = None, **kwargs: Any) -> User:
    return UserFactory(role=role, **kwargs)


def make_transformer(*, area_type: str = AreaType.URBAN, code: str | None = None) -> Transformer:
    """A substation → feeder → transformer area chain built through the services."""
    n = next(_serial)
    sub = services.substation_create(actor="test", code=f"S{n}", name=f"城关变{n}")
    feeder = services.feeder_create(actor="test", code=f"F{n}", name=f"城关线{n}", substation=sub)
    return services.transformer_create(
        actor="test",
        code=code or f"T{n}",
        name=f"城关台区{n}",
        feeder=feeder,
        capacity_kva=400,
        area_type=area_type,
        location="城关镇",
    )


def make_person(**kwargs: Any) -> Customer:
    data: dict[str, Any] = {
        "actor": "test",
        "kind": CustomerKind.PERSON,
        "name": "张三",
        "id_number": valid_id_number(),
        "mobile": "13800138000",
    }
    data.update(kwargs)
    return services.customer_create(**data)


def make_organisation(**kwargs: Any) -> Customer:
    data: dict[str, Any] = {
        "actor": "test",
        "kind": CustomerKind.ORGANISATION,
        "name": "城关机械厂",
        "credit_code": valid_credit_code(),
        "mobile": "13900139000",
        "contact_person": "李四",
    }
    data.update(kwargs)
    return services.customer_create(**data)


def make_account(
    customer: Customer,
    *,
    transformer: Transformer | None = None,
    address: str = "城关镇人民路1号",
    **kwargs: Any,
) -> Account:
    point = services.service_point_create(
        actor="test", address=address, transformer=transformer or make_transformer()
    )
    data: dict[str, Any] = {"customer_class": "urban_res", "voltage_level": "220v"}
    data.update(kwargs)
    return services.account_open(actor="test", customer=customer, service_point=point, **data)


def customer_events(customer: Customer) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(object_type="customers.customer", object_id=str(customer.pk)).order_by("id")
    )


# --- customer_create ----------------------------------------------------------------------


@pytest.mark.django_db
def test_customer_create_person_normalises_and_audits() -> None:
    # given a valid ID number typed in lower case with spaces
    id_number = valid_id_number(7, born="19900101")
    clerk = make_user("counter_clerk")

    # when the clerk registers the person
    customer = services.customer_create(
        actor=clerk,
        kind=CustomerKind.PERSON,
        name=" 王五 ",
        id_number=f" {id_number.lower()} ",
        mobile="13700137000",
        email="wang@example.com",
    )

    # then the archive holds the normalised values and the audit trail says who did it
    customer.refresh_from_db()
    assert customer.name == "王五"
    assert customer.id_number == id_number
    assert customer.credit_code is None
    assert customer.id_tail == id_number[-6:]
    assert customer.version == 1
    [event] = customer_events(customer)
    assert event.action == "customer.create"
    assert event.actor == clerk
    assert event.before is None
    assert event.after["id_number"] == id_number
    assert event.after["kind"] == "person"


@pytest.mark.django_db
def test_customer_create_organisation() -> None:
    code = valid_credit_code(42)
    customer = make_organisation(credit_code=code)
    assert customer.kind == CustomerKind.ORGANISATION
    assert customer.credit_code == code
    assert customer.id_number is None
    assert customer.id_tail == code[-6:]
    assert [e.action for e in customer_events(customer)] == ["customer.create"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id_number": wrong_check_char(valid_id_number(3))}, "id_number"),
        ({"id_number": "33010219851332001X"}, "id_number"),
        ({"id_number": "1234"}, "id_number"),
        ({"mobile": "1380013800"}, "mobile"),
        ({"mobile": "23800138000"}, "mobile"),
        ({"name": "   "}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"kind": "robot"}, "kind"),
    ],
)
def test_customer_create_rejects_bad_input_and_writes_nothing(changes: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationFailed) as exc_info:
        make_person(**changes)
    assert exc_info.value.field == field
    assert Customer.objects.count() == 0
    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db
def test_customer_create_organisation_needs_valid_code_and_contact() -> None:
    with pytest.raises(ValidationFailed) as exc_info:
        make_organisation(credit_code=wrong_check_char(valid_credit_code(5)))
    assert exc_info.value.field == "credit_code"
    with pytest.raises(ValidationFailed) as exc_info:
        make_organisation(contact_person=" ")
    assert exc_info.value.field == "contact_person"
    assert Customer.objects.count() == 0


@pytest.mark.django_db
def test_customer_create_refuses_duplicate_identity() -> None:
    id_number = valid_id_number(11)
    make_person(id_number=id_number)
    with pytest.raises(ValidationFailed) as exc_info:
        make_person(id_number=id_number, name="冒名")
    assert exc_info.value.field == "id_number"
    assert Customer.objects.count() == 1
    assert AuditEvent.objects.filter(action="customer.create").count() == 1


# --- customer_update ----------------------------------------------------------------------


@pytest.mark.django_db
def test_customer_update_bumps_version_and_audits_the_difference() -> None:
    customer = make_person(mobile="13800138000")
    clerk = make_user("counter_clerk")

    updated = services.customer_update(
        actor=clerk, customer_id=customer.pk, version=1, mobile="13911112222", postal_address="城关镇新街2号"
    )

    assert updated.version == 2
    assert updated.mobile == "13911112222"
    event = customer_events(customer)[-1]
    assert event.action == "customer.update"
    assert event.actor == clerk
    assert event.before == {"mobile": "13800138000", "postal_address": ""}
    assert event.after == {"mobile": "13911112222", "postal_address": "城关镇新街2号"}


@pytest.mark.django_db
def test_customer_update_with_stale_version_raises_conflict_and_changes_nothing() -> None:
    customer = make_person(name="张三")
    services.customer_update(actor="a", customer_id=customer.pk, version=1, name="张叁")
    events_before = AuditEvent.objects.count()

    with pytest.raises(Conflict):
        services.customer_update(actor="b", customer_id=customer.pk, version=1, name="张山")

    customer.refresh_from_db()
    assert customer.name == "张叁"
    assert customer.version == 2
    assert AuditEvent.objects.count() == events_before


@pytest.mark.django_db
def test_customer_update_bad_id_changes_nothing() -> None:
    customer = make_person()
    original = customer.id_number
    with pytest.raises(ValidationFailed) as exc_info:
        services.customer_update(
            actor="a", customer_id=customer.pk, version=1, id_number=wrong_check_char(valid_id_number(9))
        )
    assert exc_info.value.field == "id_number"
    customer.refresh_from_db()
    assert customer.id_number == original
    assert customer.version == 1


@pytest.mark.django_db
def test_customer_update_refuses_someone_elses_identity_and_unknown_fields() -> None:
    taken = valid_id_number(21)
    make_person(id_number=taken)
    customer = make_person()
    with pytest.raises(ValidationFailed) as exc_info:
        services.customer_update(actor="a", customer_id=customer.pk, version=1, id_number=taken)
    assert exc_info.value.field == "id_number"
    with pytest.raises(ValidationFailed) as exc_info:
        services.customer_update(actor="a", customer_id=customer.pk, version=1, kind="organisation")
    assert exc_info.value.field == "kind"
    with pytest.raises(NotFound):
        services.customer_update(actor="a", customer_id=customer.pk + 1000, version=1, name="x")


@pytest.mark.django_db
def test_customer_update_without_change_writes_no_audit_row() -> None:
    customer = make_person(name="张三")
    services.customer_update(actor="a", customer_id=customer.pk, version=1, name="张三")
    assert [e.action for e in customer_events(customer)] == ["customer.create"]


# --- topology, service points, accounts, contracts ------------------------------------------


@pytest.mark.django_db
def test_topology_services_validate_and_audit() -> None:
    transformer = make_transformer(code="T-DUP")
    assert AuditEvent.objects.filter(action="transformer.create", object_id=str(transformer.pk)).count() == 1
    with pytest.raises(ValidationFailed) as exc_info:
        services.transformer_create(
            actor="a",
            code="T-DUP",
            name="x",
            feeder=transformer.feeder,
            capacity_kva=100,
            area_type=AreaType.RURAL,
        )
    assert exc_info.value.field == "code"
    with pytest.raises(ValidationFailed) as exc_info:
        services.transformer_create(
            actor="a",
            code="T-NEW",
            name="x",
            feeder=transformer.feeder,
            capacity_kva=0,
            area_type=AreaType.RURAL,
        )
    assert exc_info.value.field == "capacity_kva"
    with pytest.raises(ValidationFailed) as exc_info:
        services.service_point_create(actor="a", address=" ", transformer=transformer)
    assert exc_info.value.field == "address"
    assert ServicePoint.objects.count() == 0


@pytest.mark.django_db
def test_account_open_numbers_accounts_from_the_sequence_and_audits() -> None:
    customer = make_person()
    first = make_account(customer, opened_on=dt.date(2024, 1, 2))
    second = make_account(customer)
    assert first.number == "0500000001"
    assert second.number == "0500000002"
    assert first.status == AccountStatus.ACTIVE
    assert first.closed_on is None
    event = AuditEvent.objects.get(object_type="customers.account", object_id=str(first.pk))
    assert event.action == "account.open"
    assert event.after["number"] == "0500000001"


@pytest.mark.django_db
def test_account_open_rejects_unknown_class_and_writes_nothing() -> None:
    customer = make_person()
    point = services.service_point_create(actor="a", address="x路1号", transformer=make_transformer())
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_open(
            actor="a", customer=customer, service_point=point, customer_class="castle", voltage_level="220v"
        )
    assert exc_info.value.field == "customer_class"
    assert Account.objects.count() == 0


@pytest.mark.django_db
def test_account_close_sets_closed_on_and_audits() -> None:
    account = make_account(make_person(), opened_on=dt.date(2024, 1, 2))

    closed = services.account_update(actor="a", account_id=account.pk, version=1, status=AccountStatus.CLOSED)

    assert closed.status == AccountStatus.CLOSED
    assert closed.closed_on is not None
    assert closed.version == 2
    event = (
        AuditEvent.objects.filter(object_type="customers.account", object_id=str(account.pk))
        .order_by("-id")
        .first()
    )
    assert event is not None
    assert event.action == "account.update"
    assert event.before == {"status": "active", "closed_on": None}
    assert event.after == {"status": "closed", "closed_on": closed.closed_on.isoformat()}


@pytest.mark.django_db
@pytest.mark.parametrize("status", [AccountStatus.ACTIVE, AccountStatus.SUSPENDED])
def test_a_closed_account_cannot_be_reopened_and_nothing_changes(status: str) -> None:
    # 销户 is final: supply again is a new connection (新装) with a new account.
    account = make_account(make_person(), opened_on=dt.date(2024, 1, 2))
    closed = services.account_update(
        actor="a",
        account_id=account.pk,
        version=1,
        status=AccountStatus.CLOSED,
        closed_on=dt.date(2026, 10, 20),
    )
    events = AuditEvent.objects.count()

    with pytest.raises(ValidationFailed) as exc_info:
        services.account_update(
            actor="a", account_id=account.pk, version=closed.version, status=status, tariff_code="X"
        )

    assert exc_info.value.field == "status"
    assert "新装" in str(exc_info.value.message)
    account.refresh_from_db()
    assert (account.status, account.closed_on, account.tariff_code, account.version) == (
        AccountStatus.CLOSED,
        dt.date(2026, 10, 20),
        "",
        closed.version,
    )
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_a_closed_accounts_wrongly_entered_closing_date_can_be_corrected() -> None:
    account = make_account(make_person(), opened_on=dt.date(2024, 1, 2))
    services.account_update(
        actor="a",
        account_id=account.pk,
        version=1,
        status=AccountStatus.CLOSED,
        closed_on=dt.date(2026, 10, 20),
    )

    corrected = services.account_update(
        actor="a",
        account_id=account.pk,
        version=2,
        status=AccountStatus.CLOSED,
        closed_on=dt.date(2026, 10, 10),
    )

    assert (corrected.status, corrected.closed_on) == (AccountStatus.CLOSED, dt.date(2026, 10, 10))
    event = _last_event(account)
    assert (event.before, event.after) == ({"closed_on": "2026-10-20"}, {"closed_on": "2026-10-10"})


@pytest.mark.django_db
def test_account_update_stale_version_and_bad_dates_change_nothing() -> None:
    account = make_account(make_person(), opened_on=dt.date(2024, 5, 1))
    with pytest.raises(Conflict):
        services.account_update(actor="a", account_id=account.pk, version=7, tariff_code="X")
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_update(
            actor="a",
            account_id=account.pk,
            version=1,
            status=AccountStatus.CLOSED,
            closed_on=dt.date(2024, 4, 30),
        )
    assert exc_info.value.field == "closed_on"
    with pytest.raises(ValidationFailed) as exc_info:  # a closure is recorded once it happened
        services.account_update(
            actor="a",
            account_id=account.pk,
            version=1,
            status=AccountStatus.CLOSED,
            closed_on=timezone.localdate() + dt.timedelta(days=1),
        )
    assert exc_info.value.field == "closed_on"
    account.refresh_from_db()
    assert account.version == 1
    assert account.status == AccountStatus.ACTIVE
    assert account.tariff_code == ""
    assert AuditEvent.objects.filter(action="account.update").count() == 0


@pytest.mark.django_db
def test_contract_create_validates_and_audits() -> None:
    account = make_account(make_person())
    contract = services.contract_create(
        actor="a", account=account, kind="residential", capacity_kva="8", start_date=dt.date(2024, 3, 1)
    )
    assert contract.number == "HT20240000001"
    assert AuditEvent.objects.filter(action="contract.create").count() == 1
    with pytest.raises(ValidationFailed) as exc_info:
        services.contract_create(
            actor="a", account=account, kind="residential", capacity_kva=0, start_date=dt.date(2024, 3, 1)
        )
    assert exc_info.value.field == "capacity_kva"
    with pytest.raises(ValidationFailed) as exc_info:
        services.contract_create(
            actor="a",
            account=account,
            kind="residential",
            capacity_kva=8,
            start_date=dt.date(2024, 3, 1),
            end_date=dt.date(2024, 2, 1),
        )
    assert exc_info.value.field == "end_date"


# --- effective dates of a status or billing-mode change ----------------------------------------


def _given_bill(account: Account, *, period_end: dt.date, status: str = "draft") -> None:
    """A bill of the account's month ending ``period_end`` (given state)."""
    from gridcare.billing.tests.factories import BillFactory

    BillFactory(account=account, period=period_end.replace(day=1), period_end=period_end, status=status)


def _given_charge(account: Account, day: dt.date) -> None:
    """A daily prepaid charge of ``day`` (given state)."""
    from decimal import Decimal

    from gridcare.billing.models import PrepaidCharge

    PrepaidCharge.objects.create(
        account=account,
        day=day,
        kwh=Decimal("5"),
        amount=Decimal("2.60"),
        balance_after=Decimal("10"),
        created_at=timezone.now(),
    )


def _last_event(account: Account) -> AuditEvent:
    event = (
        AuditEvent.objects.filter(object_type="customers.account", object_id=str(account.pk))
        .order_by("-id")
        .first()
    )
    assert event is not None
    return event


@pytest.mark.django_db
def test_suspension_records_the_last_day_of_supply_and_reactivation_clears_it() -> None:
    account = make_account(make_person(), opened_on=dt.date(2024, 1, 2))

    suspended = services.account_update(
        actor="a",
        account_id=account.pk,
        version=1,
        status=AccountStatus.SUSPENDED,
        suspended_on=dt.date(2026, 10, 15),
    )

    assert (suspended.status, suspended.suspended_on) == (AccountStatus.SUSPENDED, dt.date(2026, 10, 15))
    event = _last_event(account)
    assert event.before == {"status": "active", "suspended_on": None}
    assert event.after == {"status": "suspended", "suspended_on": "2026-10-15"}
    active = services.account_update(actor="a", account_id=account.pk, version=2, status=AccountStatus.ACTIVE)
    assert active.suspended_on is None


@pytest.mark.django_db
def test_suspension_is_dated_today_by_default_and_kept_when_the_account_is_closed() -> None:
    account = make_account(make_person(), opened_on=dt.date(2024, 1, 2))
    suspended = services.account_update(
        actor="a", account_id=account.pk, version=1, status=AccountStatus.SUSPENDED
    )
    assert suspended.suspended_on == timezone.localdate()

    closed = services.account_update(actor="a", account_id=account.pk, version=2, status=AccountStatus.CLOSED)

    assert (closed.closed_on, closed.suspended_on) == (timezone.localdate(), timezone.localdate())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("day", "message"),
    [
        (dt.date(2024, 4, 30), "早于立户日期（2024-05-01）"),  # the console's language
        (None, "不能晚于今天"),
        (dt.date(2026, 10, 30), "已出账或扣费至 2026-10-31"),
    ],
)
def test_a_suspension_date_outside_the_unsettled_past_is_refused_and_nothing_changes(
    day: dt.date | None, message: str
) -> None:
    account = make_account(make_person(), opened_on=dt.date(2024, 5, 1))
    _given_bill(account, period_end=dt.date(2026, 10, 31))
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_update(
            actor="a",
            account_id=account.pk,
            version=1,
            status=AccountStatus.SUSPENDED,
            suspended_on=day or timezone.localdate() + dt.timedelta(days=1),
        )
    assert exc_info.value.field == "suspended_on"
    assert message in str(exc_info.value.message)
    account.refresh_from_db()
    assert (account.status, account.suspended_on, account.version) == (AccountStatus.ACTIVE, None, 1)


@pytest.mark.django_db
def test_closing_before_a_day_already_charged_is_refused_and_on_it_accepted() -> None:
    account = make_account(make_person(), opened_on=dt.date(2024, 5, 1), is_prepaid=True)
    _given_charge(account, dt.date(2026, 10, 20))
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_update(
            actor="a",
            account_id=account.pk,
            version=1,
            status=AccountStatus.CLOSED,
            closed_on=dt.date(2026, 10, 19),
        )
    assert exc_info.value.field == "closed_on"
    assert "2026-10-20" in str(exc_info.value.message)

    closed = services.account_update(
        actor="a",
        account_id=account.pk,
        version=1,
        status=AccountStatus.CLOSED,
        closed_on=dt.date(2026, 10, 20),
    )
    assert closed.closed_on == dt.date(2026, 10, 20)


@pytest.mark.django_db
def test_switching_to_prepaid_records_the_first_prepaid_day_after_the_last_bill() -> None:
    account = make_account(make_person(), opened_on=dt.date(2024, 5, 1))
    _given_bill(account, period_end=dt.date(2026, 10, 31))
    _given_bill(account, period_end=dt.date(2026, 11, 30), status="void")  # a void bill settles nothing
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_update(
            actor="a",
            account_id=account.pk,
            version=1,
            is_prepaid=True,
            billing_mode_since=dt.date(2026, 10, 31),
        )
    assert exc_info.value.field == "billing_mode_since"
    assert str(exc_info.value.message) == "该户已出账至 2026-10-31：费控最早从 2026-11-01 开始。"

    switched = services.account_update(
        actor="a", account_id=account.pk, version=1, is_prepaid=True, billing_mode_since=dt.date(2026, 11, 1)
    )

    assert (switched.is_prepaid, switched.billing_mode_since) == (True, dt.date(2026, 11, 1))
    event = _last_event(account)
    assert event.before == {"is_prepaid": False, "billing_mode_since": None}
    assert event.after == {"is_prepaid": True, "billing_mode_since": "2026-11-01"}


@pytest.mark.django_db
def test_leaving_prepaid_starts_after_the_last_day_charged_today_by_default() -> None:
    account = make_account(make_person(), opened_on=dt.date(2024, 5, 1), is_prepaid=True)
    _given_charge(account, dt.date(2026, 11, 1))
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_update(
            actor="a",
            account_id=account.pk,
            version=1,
            is_prepaid=False,
            billing_mode_since=dt.date(2026, 11, 1),
        )
    assert "已按日扣费至 2026-11-01" in str(exc_info.value.message)
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_update(
            actor="a",
            account_id=account.pk,
            version=1,
            is_prepaid=False,
            billing_mode_since=timezone.localdate() + dt.timedelta(days=1),
        )
    assert exc_info.value.field == "billing_mode_since"
    account.refresh_from_db()
    assert (account.is_prepaid, account.billing_mode_since, account.version) == (True, None, 1)

    switched = services.account_update(actor="a", account_id=account.pk, version=1, is_prepaid=False)

    assert (switched.is_prepaid, switched.billing_mode_since) == (False, timezone.localdate())


@pytest.mark.django_db
def test_a_switch_from_the_opening_day_or_undone_on_its_first_day_leaves_no_date() -> None:
    opened = timezone.localdate() - dt.timedelta(days=10)
    account = make_account(make_person(), opened_on=opened)
    from_opening = services.account_update(
        actor="a", account_id=account.pk, version=1, is_prepaid=True, billing_mode_since=opened
    )
    assert (from_opening.is_prepaid, from_opening.billing_mode_since) == (True, None)
    switched = services.account_update(actor="a", account_id=account.pk, version=2, is_prepaid=False)
    assert switched.billing_mode_since == timezone.localdate()

    undone = services.account_update(actor="a", account_id=account.pk, version=3, is_prepaid=True)

    assert (undone.is_prepaid, undone.billing_mode_since) == (True, None)


@pytest.mark.django_db
def test_dates_given_without_their_change_are_refused() -> None:
    account = make_account(make_person(), opened_on=dt.date(2024, 5, 1))
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_update(
            actor="a", account_id=account.pk, version=1, billing_mode_since=dt.date(2026, 1, 1)
        )
    assert exc_info.value.field == "billing_mode_since"
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_update(actor="a", account_id=account.pk, version=1, suspended_on=dt.date(2026, 1, 1))
    assert exc_info.value.field == "suspended_on"


@pytest.mark.django_db
def test_switching_back_to_postpaid_needs_the_postpaid_days_before_the_earlier_switch_billed() -> None:
    """Only the latest switch is kept: back to postpaid, 1–19 October (postpaid before the
    switch to prepaid on 20 October) would be settled by neither path unless billed first."""
    account = make_account(make_person(), opened_on=dt.date(2024, 5, 1))
    _given_bill(account, period_end=dt.date(2026, 9, 30))
    prepaid = services.account_update(
        actor="a", account_id=account.pk, version=1, is_prepaid=True, billing_mode_since=dt.date(2026, 10, 20)
    )
    with pytest.raises(ValidationFailed) as exc_info:
        services.account_update(
            actor="a",
            account_id=account.pk,
            version=prepaid.version,
            is_prepaid=False,
            billing_mode_since=dt.date(2026, 11, 1),
        )
    assert exc_info.value.field == "billing_mode_since"
    assert "2026-10-19" in str(exc_info.value.message)
    _given_bill(account, period_end=dt.date(2026, 10, 19))  # October's bill: 1–19 October

    back = services.account_update(
        actor="a",
        account_id=account.pk,
        version=prepaid.version,
        is_prepaid=False,
        billing_mode_since=dt.date(2026, 11, 1),
    )

    assert (back.is_prepaid, back.billing_mode_since) == (False, dt.date(2026, 11, 1))
