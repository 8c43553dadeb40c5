"""客户档案 (customer archive) and the grid topology it hangs on.

Topology: Substation 变电站 → Feeder 10 kV 线路 → Transformer 台区 → ServicePoint 用电地址.
Customer 客户 → Account 用电户 (户号) at a ServicePoint → Contract 供用电合同.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

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


class Substation(models.Model):
    """变电站: the top of the county's distribution topology."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)
    voltage_kv = models.PositiveIntegerField(_("voltage (kV)"), default=110)

    class Meta:
        verbose_name = _("substation")
        verbose_name_plural = _("substations")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(voltage_kv__gt=0), name="substation_voltage_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class Feeder(models.Model):
    """10 kV 线路 (feeder) leaving a substation."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)
    substation = models.ForeignKey(
        to="customers.Substation",
        on_delete=models.PROTECT,
        related_name="feeders",
        verbose_name=_("substation"),
    )
    voltage_kv = models.PositiveIntegerField(_("voltage (kV)"), default=10)

    class Meta:
        verbose_name = _("feeder")
        verbose_name_plural = _("feeders")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Transformer(models.Model):
    """A distribution transformer and the customers behind it.

    Either a public transformer area (公变台区, ``is_dedicated`` False: many low-voltage
    customers behind one transformer) or a customer's own dedicated transformer (专变,
    ``is_dedicated`` True: e.g. a 大工业 customer fed straight from the 10 kV feeder). 台区
    line-loss analysis covers public transformer areas only.

    ``area_type`` sets the repair promises (城区 45 min / 农村 90 min / 边远 2 h arrival).
    """

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)
    feeder = models.ForeignKey(
        to="customers.Feeder",
        on_delete=models.PROTECT,
        related_name="transformers",
        verbose_name=_("feeder"),
    )
    capacity_kva = models.PositiveIntegerField(_("capacity (kVA)"))
    area_type = models.CharField(_("area type"), max_length=10, choices=AreaType.choices)
    location = models.CharField(_("location"), max_length=200, blank=True)
    is_dedicated = models.BooleanField(
        _("dedicated (专变)"),
        default=False,
        help_text=_("A customer's own transformer (专变) rather than a public transformer area (公变台区)."),
    )

    class Meta:
        verbose_name = _("transformer area")
        verbose_name_plural = _("transformer areas")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(capacity_kva__gt=0), name="transformer_capacity_positive"),
            models.CheckConstraint(
                condition=Q(area_type__in=AreaType.values), name="transformer_area_type_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ServicePoint(models.Model):
    """用电地址 / 计量点: where supply is delivered, on one transformer area."""

    address = models.CharField(_("address"), max_length=200, db_index=True)
    transformer = models.ForeignKey(
        to="customers.Transformer",
        on_delete=models.PROTECT,
        related_name="service_points",
        verbose_name=_("transformer area"),
    )
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)

    class Meta:
        verbose_name = _("service point")
        verbose_name_plural = _("service points")
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__isnull=True) | Q(latitude__gte=-90, latitude__lte=90),
                name="service_point_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True) | Q(longitude__gte=-180, longitude__lte=180),
                name="service_point_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return self.address


class Customer(models.Model):
    """客户: a person (identified by 身份证) or an organisation (统一社会信用代码).

    ``id_tail`` holds the last 6 characters of the identity number so the counter can find
    a customer by the tail a caller reads out, without a full scan.
    """

    kind = models.CharField(_("kind"), max_length=20, choices=CustomerKind.choices)
    name = models.CharField(_("name"), max_length=100, db_index=True)
    id_number = models.CharField(_("ID card number"), max_length=18, null=True, blank=True, unique=True)
    credit_code = models.CharField(
        _("unified social credit code"), max_length=18, null=True, blank=True, unique=True
    )
    id_tail = models.CharField(_("ID tail"), max_length=6, blank=True, db_index=True)
    mobile = models.CharField(_("mobile"), max_length=11, db_index=True)
    contact_person = models.CharField(_("contact person"), max_length=50, blank=True)
    email = models.EmailField(_("email"), blank=True)
    postal_address = models.CharField(_("postal address"), max_length=200, blank=True)
    user = models.OneToOneField(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="customer",
        verbose_name=_("portal login"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="person", id_number__isnull=False, credit_code__isnull=True)
                | Q(kind="organisation", credit_code__isnull=False, id_number__isnull=True),
                name="customer_identity_matches_kind",
            ),
            models.CheckConstraint(condition=Q(kind__in=CustomerKind.values), name="customer_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def identity_number(self) -> str:
        """身份证 or 统一社会信用代码, whichever the kind carries."""
        return (self.id_number if self.kind == CustomerKind.PERSON else self.credit_code) or ""


class Account(models.Model):
    """用电户 (account) with its 户号: the unit that is read, billed, inspected and repaired."""

    number = models.CharField(_("account number"), max_length=16, unique=True)
    customer = models.ForeignKey(
        to="customers.Customer",
        on_delete=models.PROTECT,
        related_name="accounts",
        verbose_name=_("customer"),
    )
    service_point = models.ForeignKey(
        to="customers.ServicePoint",
        on_delete=models.PROTECT,
        related_name="accounts",
        verbose_name=_("service point"),
    )
    customer_class = models.CharField(_("customer class"), max_length=20, choices=CustomerClass.choices)
    voltage_level = models.CharField(_("voltage level"), max_length=10, choices=VoltageLevel.choices)
    tariff_code = models.CharField(
        _("tariff code"),
        max_length=30,
        blank=True,
        help_text=_("Bound by billing to a tariff in the catalogue."),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=AccountStatus.choices, default=AccountStatus.ACTIVE
    )
    importance = models.CharField(
        _("important user level"),
        max_length=20,
        choices=ImportanceLevel.choices,
        blank=True,
        default=ImportanceLevel.NONE,
    )
    is_prepaid = models.BooleanField(_("prepaid (费控)"), default=False)
    opened_on = models.DateField(_("opened on"))
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    suspended_on = models.DateField(
        _("suspended on"),
        null=True,
        blank=True,
        help_text=_("暂停: the last day of supply before the suspension (kept when the account is closed)."),
    )
    billing_mode_since = models.DateField(
        _("billing mode since"),
        null=True,
        blank=True,
        help_text=_(
            "The first day of the current billing mode (prepaid or postpaid); before it the account "
            "was in the other mode. Empty: always in this mode."
        ),
    )
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=AccountStatus.CLOSED, closed_on__isnull=False)
                | (~Q(status=AccountStatus.CLOSED) & Q(closed_on__isnull=True)),
                name="account_closed_has_date",
            ),
            models.CheckConstraint(
                condition=Q(closed_on__isnull=True) | Q(closed_on__gte=models.F("opened_on")),
                name="account_closed_after_opened",
            ),
            models.CheckConstraint(
                condition=Q(status=AccountStatus.SUSPENDED, suspended_on__isnull=False)
                | Q(status=AccountStatus.ACTIVE, suspended_on__isnull=True)
                | Q(status=AccountStatus.CLOSED),
                name="account_suspended_has_date",
            ),
            models.CheckConstraint(
                condition=Q(suspended_on__isnull=True) | Q(suspended_on__gte=models.F("opened_on")),
                name="account_suspended_after_opened",
            ),
            models.CheckConstraint(
                condition=Q(billing_mode_since__isnull=True)
                | Q(billing_mode_since__gt=models.F("opened_on")),
                name="account_billing_mode_after_opened",
            ),
            models.CheckConstraint(condition=Q(status__in=AccountStatus.values), name="account_status_valid"),
            models.CheckConstraint(
                condition=Q(customer_class__in=CustomerClass.values), name="account_class_valid"
            ),
            models.CheckConstraint(
                condition=Q(voltage_level__in=VoltageLevel.values), name="account_voltage_valid"
            ),
            models.CheckConstraint(
                condition=Q(importance__in=ImportanceLevel.values), name="account_importance_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_important(self) -> bool:
        """重要用户 flag."""
        return bool(self.importance)


class Contract(models.Model):
    """供用电合同: contracted capacity, term and terms for one account."""

    number = models.CharField(_("contract number"), max_length=30, unique=True)
    account = models.ForeignKey(
        to="customers.Account",
        on_delete=models.PROTECT,
        related_name="contracts",
        verbose_name=_("account"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=ContractKind.choices)
    capacity_kva = models.DecimalField(_("contracted capacity (kVA)"), max_digits=10, decimal_places=1)
    basic_charge_by = models.CharField(
        _("basic charge by"),
        max_length=10,
        blank=True,
        choices=BasicChargeBasis.choices,
        help_text=_("两部制 only: basic charge by transformer capacity or by maximum demand."),
    )
    contracted_demand_kw = models.DecimalField(
        _("contracted maximum demand (kW)"),
        max_digits=10,
        decimal_places=1,
        null=True,
        blank=True,
        help_text=_("合同最大需量, when the basic charge is by demand."),
    )
    start_date = models.DateField(_("start date"))
    end_date = models.DateField(_("end date"), null=True, blank=True)
    signed_on = models.DateField(_("signed on"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=ContractStatus.choices, default=ContractStatus.ACTIVE
    )
    terms = models.TextField(_("terms"), blank=True)

    class Meta:
        verbose_name = _("supply contract")
        verbose_name_plural = _("supply contracts")
        ordering = ["-start_date", "number"]
        constraints = [
            models.CheckConstraint(condition=Q(capacity_kva__gt=0), name="contract_capacity_positive"),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="contract_end_after_start",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ContractStatus.values), name="contract_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.number
