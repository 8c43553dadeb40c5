"""Test data of the customer archive and the grid topology (factory_boy).

Identity numbers are real-format and pass the checksums (身份证 via ``id_check_char``,
统一社会信用代码 via ``uscc_check_char``). Account numbers start with ``99`` and contract
numbers with ``HTF`` so they never collide with numbers handed out by the services
(``05…`` and ``HT<year>…``).

Factories write rows directly: use them to set up *given* state; exercise behaviour
through the services.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory

from gridcare.core.tests.factories import UserFactory, valid_id_number, valid_mobile, valid_uscc
from gridcare.customers.choices import (
    AccountStatus,
    AreaType,
    ContractKind,
    ContractStatus,
    CustomerClass,
    CustomerKind,
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

__all__ = [
    "AccountFactory",
    "ContractFactory",
    "CustomerFactory",
    "FeederFactory",
    "OrganisationFactory",
    "ServicePointFactory",
    "SubstationFactory",
    "TransformerFactory",
    "UserFactory",
]


class SubstationFactory(factory.django.DjangoModelFactory):
    """变电站."""

    class Meta:
        model = Substation

    code = factory.Sequence(lambda n: f"BDZ{n:04d}")
    name = factory.Sequence(lambda n: f"测试{n}号变电站")
    voltage_kv = 110


class FeederFactory(factory.django.DjangoModelFactory):
    """10 kV 线路."""

    class Meta:
        model = Feeder

    code = factory.Sequence(lambda n: f"XL{n:05d}")
    name = factory.Sequence(lambda n: f"10kV测试{n}线")
    substation = factory.SubFactory(SubstationFactory)
    voltage_kv = 10


class TransformerFactory(factory.django.DjangoModelFactory):
    """台区."""

    class Meta:
        model = Transformer

    code = factory.Sequence(lambda n: f"TQ{n:06d}")
    name = factory.Sequence(lambda n: f"测试{n}号台区")
    feeder = factory.SubFactory(FeederFactory)
    capacity_kva = 400
    area_type = AreaType.URBAN
    location = "城关镇"


class ServicePointFactory(factory.django.DjangoModelFactory):
    """用电地址."""

    class Meta:
        model = ServicePoint

    address = factory.Sequence(lambda n: f"城关镇测试路{n}号")
    transformer = factory.SubFactory(TransformerFactory)


class CustomerFactory(factory.django.DjangoModelFactory):
    """客户 (个人) with a valid 身份证 number; ``id_tail`` matches it."""

    class Meta:
        model = Customer

    kind = CustomerKind.PERSON
    name = factory.Sequence(lambda n: f"测试客户{n}")
    id_number = factory.Sequence(valid_id_number)
    credit_code = None
    id_tail = factory.LazyAttribute(lambda c: (c.id_number or c.credit_code or "")[-6:])
    mobile = factory.Sequence(valid_mobile)
    contact_person = ""
    postal_address = factory.Sequence(lambda n: f"城关镇测试路{n}号")
    user = None

    class Params:
        with_login = factory.Trait(
            user=factory.SubFactory(
                UserFactory, username=factory.Sequence(lambda n: f"portal{n}"), roles=["customer"]
            )
        )


class OrganisationFactory(CustomerFactory):
    """客户 (单位) with a valid 统一社会信用代码."""

    kind = CustomerKind.ORGANISATION
    name = factory.Sequence(lambda n: f"测试{n}号有限公司")
    id_number = None
    credit_code = factory.Sequence(valid_uscc)
    contact_person = "张经理"


class AccountFactory(factory.django.DjangoModelFactory):
    """用电户 with a 户号 ``99`` + 8 digits."""

    class Meta:
        model = Account

    number = factory.Sequence(lambda n: f"99{n:08d}")
    customer = factory.SubFactory(CustomerFactory)
    service_point = factory.SubFactory(ServicePointFactory)
    customer_class = CustomerClass.URBAN_RESIDENTIAL
    voltage_level = VoltageLevel.V220
    tariff_code = ""
    status = AccountStatus.ACTIVE
    is_prepaid = False
    opened_on = dt.date(2020, 1, 1)
    closed_on = None


class ContractFactory(factory.django.DjangoModelFactory):
    """供用电合同."""

    class Meta:
        model = Contract

    number = factory.Sequence(lambda n: f"HTF{n:08d}")
    account = factory.SubFactory(AccountFactory)
    kind = ContractKind.RESIDENTIAL
    capacity_kva = Decimal("8.0")
    start_date = dt.date(2020, 1, 1)
    end_date = None
    signed_on = dt.date(2020, 1, 1)
    status = ContractStatus.ACTIVE
    terms = ""
