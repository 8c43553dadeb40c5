"""Billing and collection (抄表收费): the tariff catalogue, billing runs, bills and their
corrections, payments and their allocation, late fees, and prepaid (费控) accounts.

Money is ``Decimal`` yuan with 2 places in the database (integer fen in the engines);
energy is ``Decimal`` kWh with 3 places; prices carry 6 places (代理购电 prices are
published to the 0.000001 yuan). Every price, bound and ratio is a row or a version's
parameters with its source: never a constant in code.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from gridcare.billing.choices import (
    REFUND_CHANNELS,
    AdjustmentKind,
    BillLineKind,
    BillStatus,
    DocumentStatus,
    HoldStatus,
    PartitionStatus,
    PaymentChannel,
    PaymentKind,
    PaymentStatus,
    PfStandard,
    PrepaidNoticeLevel,
    RefundRequestStatus,
    RemoteOrderKind,
    RemoteOrderStatus,
    ReviewRule,
    ReviewStatus,
    RunStatus,
    TariffKind,
    WithholdingStatus,
)

# --- the tariff catalogue (电价目录) ----------------------------------------------------------


class Tariff(models.Model):
    """电价: a tariff code accounts are bound to (``Account.tariff_code``); its prices live in
    effective-dated versions."""

    code = models.CharField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=TariffKind.choices)
    description = models.TextField(
        _("description"), blank=True, help_text=_("What it covers and where its values come from.")
    )

    class Meta:
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=TariffKind.values), name="tariff_kind_valid")
        ]

    def __str__(self) -> str:
        return self.code


class TariffVersion(models.Model):
    """One version of a tariff's prices, in force from ``effective_from`` until the next
    version's date. ``params`` holds every price, bound and ratio as exact decimal strings
    (the keys are documented in ``billing.engine.catalogue``), ``source`` cites where they
    come from. Versions are added, never edited once a bill used them."""

    tariff = models.ForeignKey(
        to="billing.Tariff", on_delete=models.PROTECT, related_name="versions", verbose_name=_("tariff")
    )
    effective_from = models.DateField(_("effective from"))
    params = models.JSONField(_("parameters"))
    source = models.TextField(_("source"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("tariff version")
        verbose_name_plural = _("tariff versions")
        ordering = ["tariff", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["tariff", "effective_from"], name="tariff_version_unique_date"),
        ]

    def __str__(self) -> str:
        return f"{self.tariff_id} {self.effective_from}"


class AgencyPurchasePrice(models.Model):
    """代理购电价格: the month's agency purchase price for a price group (e.g. 工商业 < 1 kV,
    1–10 kV) and the unfloated parts added to it. TOU ratios multiply the purchase price
    only (domain-rules §4)."""

    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    price_group = models.CharField(_("price group"), max_length=30)
    purchase_price = models.DecimalField(_("purchase price (yuan/kWh)"), max_digits=12, decimal_places=6)
    line_loss_fee = models.DecimalField(_("上网环节线损费用 (yuan/kWh)"), max_digits=12, decimal_places=6)
    transmission_fee = models.DecimalField(_("输配电价 (yuan/kWh)"), max_digits=12, decimal_places=6)
    system_fee = models.DecimalField(_("系统运行费 (yuan/kWh)"), max_digits=12, decimal_places=6)
    fund_fee = models.DecimalField(_("政府性基金及附加 (yuan/kWh)"), max_digits=12, decimal_places=6)
    source = models.TextField(_("source"))

    class Meta:
        verbose_name = _("agency purchase price")
        verbose_name_plural = _("agency purchase prices")
        ordering = ["-month", "price_group"]
        constraints = [
            models.UniqueConstraint(fields=["month", "price_group"], name="agency_price_unique_month_group"),
            models.CheckConstraint(condition=Q(purchase_price__gte=0), name="agency_price_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.price_group} {self.month:%Y-%m}"


class PowerFactorAdjustment(models.Model):
    """功率因数调整电费表: one row per standard and power factor (0.00–1.00): the percentage
    added to (positive) or taken off (negative) basic + energy charges."""

    standard = models.CharField(_("standard"), max_length=4, choices=PfStandard.choices)
    power_factor = models.DecimalField(_("power factor"), max_digits=3, decimal_places=2)
    percent = models.DecimalField(_("adjustment (%)"), max_digits=6, decimal_places=2)
    source = models.CharField(_("source"), max_length=300)

    class Meta:
        verbose_name = _("power-factor adjustment")
        verbose_name_plural = _("power-factor adjustments")
        ordering = ["standard", "-power_factor"]
        constraints = [
            models.UniqueConstraint(fields=["standard", "power_factor"], name="pf_adjustment_unique"),
            models.CheckConstraint(
                condition=Q(power_factor__gte=0) & Q(power_factor__lte=1), name="pf_adjustment_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.standard}: {self.power_factor} → {self.percent}%"


class BillingPolicy(models.Model):
    """Billing configuration in force from a date: due days, review thresholds, late-fee
    rates (domain-rules §3) and prepaid thresholds, each with its source."""

    effective_from = models.DateField(_("effective from"), unique=True)
    due_days = models.PositiveSmallIntegerField(_("days from issue to due date"))
    review_high_factor = models.DecimalField(
        _("review: bill above k × average"), max_digits=5, decimal_places=2
    )
    review_history_months = models.PositiveSmallIntegerField(_("review: months of history for the average"))
    late_fee_residential_permille = models.DecimalField(
        _("late fee, residential (‰/day)"), max_digits=5, decimal_places=2
    )
    late_fee_current_year_permille = models.DecimalField(
        _("late fee, others, current-year arrears (‰/day)"), max_digits=5, decimal_places=2
    )
    late_fee_cross_year_permille = models.DecimalField(
        _("late fee, others, cross-year arrears (‰/day)"), max_digits=5, decimal_places=2
    )
    late_fee_minimum = models.DecimalField(_("late fee minimum (yuan)"), max_digits=14, decimal_places=2)
    prepaid_low_balance = models.DecimalField(
        _("prepaid: remind below (yuan)"), max_digits=14, decimal_places=2
    )
    prepaid_notice_days = models.PositiveSmallIntegerField(_("prepaid: days from notice to disconnection"))
    reconnect_hours = models.PositiveSmallIntegerField(_("prepaid: reconnect within (hours) after payment"))
    source = models.TextField(_("source"))

    class Meta:
        verbose_name = _("billing policy")
        verbose_name_plural = _("billing policies")
        ordering = ["-effective_from"]

    def __str__(self) -> str:
        return str(self.effective_from)


# --- billing runs (计费) -----------------------------------------------------------------------


class BillingRun(models.Model):
    """A billing run for one month: selects billable accounts, holds those with open
    reading exceptions, rates the rest in partitions (each a checkpoint) and writes draft
    bills; after review the run is issued. One run per period; running it again resumes."""

    period = models.DateField(_("period"), unique=True, help_text=_("The first day of the billed month."))
    status = models.CharField(
        _("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.PENDING
    )
    scheduler = models.CharField(_("scheduler"), max_length=200, blank=True)
    partitions_total = models.PositiveIntegerField(_("partitions"), default=0)
    partitions_done = models.PositiveIntegerField(_("partitions done"), default=0)
    accounts_selected = models.PositiveIntegerField(_("accounts selected"), default=0)
    accounts_held = models.PositiveIntegerField(_("accounts held"), default=0)
    bills_written = models.PositiveIntegerField(_("bills written"), default=0)
    review_flags = models.PositiveIntegerField(_("review flags"), default=0)
    total_amount = models.DecimalField(_("total amount"), default=0, max_digits=14, decimal_places=2)
    error = models.TextField(_("error"), blank=True)
    created_by = models.CharField(_("created by"), max_length=150)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    issued_at = models.DateTimeField(_("issued"), null=True, blank=True)
    issued_by = models.CharField(_("issued by"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("billing run")
        verbose_name_plural = _("billing runs")
        ordering = ["-period"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=RunStatus.values), name="run_status_valid")
        ]

    def __str__(self) -> str:
        return f"{self.period:%Y-%m}"


class BillingRunPartition(models.Model):
    """A checkpoint of a run: the accounts with ids in [account_lo, account_hi]. A partition
    is marked done in the same transaction that writes its bills."""

    run = models.ForeignKey(
        to="billing.BillingRun", on_delete=models.CASCADE, related_name="partitions", verbose_name=_("run")
    )
    number = models.PositiveIntegerField(_("number"))
    account_lo = models.BigIntegerField(_("first account id"))
    account_hi = models.BigIntegerField(_("last account id"))
    status = models.CharField(
        _("status"), max_length=10, choices=PartitionStatus.choices, default=PartitionStatus.PENDING
    )
    bills = models.PositiveIntegerField(_("bills"), default=0)
    seconds = models.FloatField(_("seconds"), default=0)  # a duration, not money
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("billing run partition")
        verbose_name_plural = _("billing run partitions")
        ordering = ["run", "number"]
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="run_partition_unique")]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.number}"


class BillingHold(models.Model):
    """暂缓计费: an account a run did not bill because of open reading exceptions; releasing
    it (through the metering exception queue) lets a re-run bill it."""

    run = models.ForeignKey(
        to="billing.BillingRun", on_delete=models.CASCADE, related_name="holds", verbose_name=_("run")
    )
    account = models.ForeignKey(
        to="customers.Account",
        on_delete=models.PROTECT,
        related_name="billing_holds",
        verbose_name=_("account"),
    )
    reason = models.CharField(_("reason"), max_length=300)
    status = models.CharField(_("status"), max_length=10, choices=HoldStatus.choices, default=HoldStatus.HELD)
    released_by = models.CharField(_("released by"), max_length=150, blank=True)
    released_at = models.DateTimeField(_("released"), null=True, blank=True)

    class Meta:
        verbose_name = _("billing hold")
        verbose_name_plural = _("billing holds")
        ordering = ["run", "account"]
        constraints = [models.UniqueConstraint(fields=["run", "account"], name="billing_hold_unique")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.account_id}"


# --- bills (电费账单) --------------------------------------------------------------------------


class Bill(models.Model):
    """电费账单 of one account for one month. Written as a draft by a run (or a single-account
    re-run), reviewed, then issued: an issued bill never changes (a database trigger refuses
    it); corrections are :class:`BillAdjustment` documents referencing it."""

    number = models.CharField(_("bill number"), max_length=20, unique=True)
    # The references to the account and the run are checked by triggers once per statement
    # instead of per-row foreign keys checked at commit (migration billing 0006), and need
    # no single-column indexes: the unique (account, period) and the (run, status) indexes
    # lead with them. A run writes a million bills a month.
    account = models.ForeignKey(
        to="customers.Account",
        on_delete=models.PROTECT,
        related_name="bills",
        verbose_name=_("account"),
        db_constraint=False,
        db_index=False,
    )
    run = models.ForeignKey(
        to="billing.BillingRun",
        on_delete=models.PROTECT,
        related_name="bills",
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        verbose_name=_("run"),
    )
    period = models.DateField(_("period"), help_text=_("The first day of the billed month."))
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("to"), help_text=_("Inclusive."))
    tariff_code = models.CharField(_("tariff"), max_length=30)
    kwh = models.DecimalField(_("energy (kWh)"), max_digits=14, decimal_places=3)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    status = models.CharField(
        _("status"), max_length=10, choices=BillStatus.choices, default=BillStatus.DRAFT
    )
    readings = models.JSONField(
        _("readings used"), default=dict, help_text=_("Register: start and end readings, multiplier.")
    )
    created_at = models.DateTimeField(_("created"))
    issued_at = models.DateTimeField(_("issued"), null=True, blank=True)
    due_date = models.DateField(_("due date"), null=True, blank=True)

    class Meta:
        verbose_name = _("bill")
        verbose_name_plural = _("bills")
        ordering = ["-period", "account"]
        constraints = [
            models.UniqueConstraint(fields=["account", "period"], name="bill_unique_account_period"),
            models.CheckConstraint(condition=Q(status__in=BillStatus.values), name="bill_status_valid"),
            models.CheckConstraint(
                condition=Q(status=BillStatus.ISSUED, issued_at__isnull=False, due_date__isnull=False)
                | ~Q(status=BillStatus.ISSUED),
                name="bill_issued_has_dates",
            ),
        ]
        indexes = [models.Index(fields=["run", "status"], name="bill_run_status_idx")]

    def __str__(self) -> str:
        return self.number


class BillLine(models.Model):
    """One line of a bill, as the engine rated it: item code, kWh, unit price, amount, and
    the tariff version that priced it (``tariff_version``; empty on lines written before it
    was recorded). ``INFO`` lines break a price down (funds inside a residential price) and
    add nothing; the notice prints the components of a ``fund_included`` line from the
    line's own version. A line that covers only some days of the bill's period — a
    basic-charge line (基本电费) per contract when the contract changed inside the month
    (减容 from the 16th), every line of a period split by a new tariff version (a fund rate
    changed on the 16th: the lines of each version) — keeps its days (``period_from`` –
    ``period_to``), so its lines do not look alike; every other line has none."""

    # The reference to the bill is checked by triggers once per statement instead of a
    # per-row foreign key checked at commit (a run writes millions of lines; migration
    # billing 0006); the unique (bill, seq) index serves the lookups by bill.
    bill = models.ForeignKey(
        to="billing.Bill",
        on_delete=models.CASCADE,
        related_name="lines",
        verbose_name=_("bill"),
        db_constraint=False,
        db_index=False,
    )
    seq = models.PositiveSmallIntegerField(_("line"))
    kind = models.CharField(_("kind"), max_length=10, choices=BillLineKind.choices)
    item = models.CharField(_("item"), max_length=40)
    kwh = models.DecimalField(_("kWh"), null=True, blank=True, max_digits=14, decimal_places=3)
    unit_price = models.DecimalField(_("unit price"), null=True, blank=True, max_digits=12, decimal_places=6)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    period_from = models.DateField(
        _("from"),
        null=True,
        blank=True,
        help_text=_("First day of a line covering part of the bill's period only; empty: the whole period."),
    )
    period_to = models.DateField(_("to"), null=True, blank=True, help_text=_("Inclusive."))
    # No database constraint nor index: a run writes millions of lines (the engine gives
    # each its version, a version in the catalogue), and nothing looks lines up by version.
    tariff_version = models.ForeignKey(
        to="billing.TariffVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="bill_lines",
        verbose_name=_("tariff version"),
        db_constraint=False,
        db_index=False,
    )

    class Meta:
        verbose_name = _("bill line")
        verbose_name_plural = _("bill lines")
        ordering = ["bill", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["bill", "seq"], name="bill_line_unique_seq"),
            models.CheckConstraint(
                condition=Q(period_from__isnull=True, period_to__isnull=True)
                | Q(period_from__isnull=False, period_to__isnull=False, period_from__lte=F("period_to")),
                name="bill_line_period_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bill_id}#{self.seq} {self.item}"


class BillReview(models.Model):
    """发行前审核: a draft bill a review rule flagged; a billing clerk approves it or sends it
    back (the account is re-rated after its readings are corrected)."""

    bill = models.ForeignKey(
        to="billing.Bill", on_delete=models.CASCADE, related_name="reviews", verbose_name=_("bill")
    )
    rule = models.CharField(_("rule"), max_length=10, choices=ReviewRule.choices)
    detail = models.CharField(_("detail"), max_length=300)
    status = models.CharField(
        _("status"), max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.OPEN
    )
    decided_by = models.CharField(_("decided by"), max_length=150, blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("bill review")
        verbose_name_plural = _("bill reviews")
        ordering = ["bill", "rule"]
        constraints = [models.UniqueConstraint(fields=["bill", "rule"], name="bill_review_unique_rule")]

    def __str__(self) -> str:
        return f"{self.bill_id} {self.rule}"


class BillAdjustment(models.Model):
    """退补单: a refund or back-billing referencing an issued bill (a wrong reading, a meter
    verified out of tolerance — ``meter_adjustment`` — or a tariff error). Approved by a
    second person; the approved amount counts in the account's arrears. An approved
    back-billing has its own ``due_date`` (its approval date plus the bill's payment term):
    its late fee counts from then, not from the bill's due date."""

    number = models.CharField(_("number"), max_length=20, unique=True)
    bill = models.ForeignKey(
        to="billing.Bill", on_delete=models.PROTECT, related_name="adjustments", verbose_name=_("bill")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=AdjustmentKind.choices)
    kwh = models.DecimalField(_("kWh"), default=0, max_digits=14, decimal_places=3)
    amount = models.DecimalField(
        _("amount"),
        help_text=_("Positive: the customer owes more; negative: a refund."),
        max_digits=14,
        decimal_places=2,
    )
    reason = models.TextField(_("reason"))
    lines = models.JSONField(_("rated lines"), default=list)
    meter_adjustment = models.ForeignKey(
        to="metering.Adjustment",
        on_delete=models.PROTECT,
        related_name="bill_adjustments",
        null=True,
        blank=True,
        verbose_name=_("meter verification 退补"),
    )
    corrects_consumption = models.BooleanField(
        _("corrects the bill's consumption"),
        default=True,
        help_text=_(
            "No for a charge the bill only carries (a 窃电/违约用电 case's back charge and "
            "penalty): it counts in what the customer owes, not in the bill's consumption or "
            "its refund ceilings."
        ),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=DocumentStatus.choices, default=DocumentStatus.PENDING
    )
    requested_by = models.CharField(_("requested by"), max_length=150)
    requested_at = models.DateTimeField(_("requested"))
    decided_by = models.CharField(_("decided by"), max_length=150, blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    due_date = models.DateField(
        _("due date"),
        null=True,
        blank=True,
        help_text=_(
            "An approved back-billing: the day it must be paid by (the approval date plus the "
            "bill's payment term); its late fee counts from the day after."
        ),
    )

    class Meta:
        verbose_name = _("bill adjustment")
        verbose_name_plural = _("bill adjustments")
        ordering = ["-requested_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind=AdjustmentKind.REFUND) & Q(amount__lte=0))
                | (Q(kind=AdjustmentKind.BACKBILL) & Q(amount__gte=0)),
                name="bill_adjustment_sign",
            ),
            models.CheckConstraint(
                condition=Q(due_date__isnull=False)
                | ~Q(status=DocumentStatus.APPROVED, kind=AdjustmentKind.BACKBILL, amount__gt=0),
                name="bill_adjustment_backbill_due",
            ),
        ]

    def __str__(self) -> str:
        return self.number


# --- payments, allocation, balance (收费) -----------------------------------------------------


class AccountBalance(models.Model):
    """预收/余额: money an account holds beyond its bills (an overpayment; a prepaid account's
    balance). Changed only under ``select_for_update`` by the payment and prepaid services."""

    account = models.OneToOneField(
        to="customers.Account", on_delete=models.PROTECT, related_name="balance", verbose_name=_("account")
    )
    amount = models.DecimalField(_("balance"), default=0, max_digits=14, decimal_places=2)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("account balance")
        verbose_name_plural = _("account balances")

    def __str__(self) -> str:
        return f"{self.account_id}: {self.amount}"


class Payment(models.Model):
    """实收: money received for an account on a channel. ``idempotency_key`` makes a repeated
    callback or a double-clicked counter form post once. A reversal (冲正) keeps the row and
    takes its allocations back.

    A refund (``kind`` REFUND, 销户退费) is a closed account's balance paid back: the same row
    with a negative amount, a refund channel (the method) and its reason, so every payment
    history and account statement shows it where the payments are. It has no allocations.
    It is written only when a second person approves a :class:`RefundRequest` (four eyes):
    a refund row is money that left, never a request still waiting."""

    number = models.CharField(_("receipt number"), max_length=20, unique=True)
    kind = models.CharField(
        _("kind"), max_length=10, choices=PaymentKind.choices, default=PaymentKind.PAYMENT
    )
    account = models.ForeignKey(
        to="customers.Account", on_delete=models.PROTECT, related_name="payments", verbose_name=_("account")
    )
    channel = models.CharField(_("channel"), max_length=20, choices=PaymentChannel.choices)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    received_at = models.DateTimeField(_("received"))
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, unique=True)
    external_ref = models.CharField(_("external reference"), max_length=100, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.POSTED
    )
    posted_by = models.CharField(_("posted by"), max_length=150)
    reversal_reason = models.CharField(_("reversal reason"), max_length=300, blank=True)
    reversed_by = models.CharField(_("reversed by"), max_length=150, blank=True)
    reversed_at = models.DateTimeField(_("reversed"), null=True, blank=True)
    reason = models.CharField(_("refund reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-received_at"]
        constraints = [
            # Money in is > 0 on a payment channel; a refund is < 0 on a refund channel.
            models.CheckConstraint(
                condition=Q(kind=PaymentKind.PAYMENT, amount__gt=0) & ~Q(channel__in=REFUND_CHANNELS)
                | Q(kind=PaymentKind.REFUND, amount__lt=0, channel__in=REFUND_CHANNELS),
                name="payment_kind_amount_channel",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=PaymentChannel.values), name="payment_channel_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def status_label(self) -> str:
        """The status as shown to people: a refund that stands was paid back (已退款), not
        "posted" (已入账) like money in; a reversed one reads as any reversal."""
        if self.kind == PaymentKind.REFUND and self.status == PaymentStatus.POSTED:
            return str(_("Refunded (已退款)"))
        return str(self.get_status_display())


class RefundRequest(models.Model):
    """退费申请: a clerk's request to pay a closed account's balance back (销户退费), decided
    by another person holding the approval permission (four eyes, as a late-fee waiver).

    A request is not money: it is kept apart from the payments, so no sum of payments,
    balance, statement or report ever counts a pending or rejected one. Approval executes
    it — the refund row of the payments (``payment``) is written then, under the account
    lock — and a rejection ends it with the approver's reason. While it is pending its
    requester may withdraw it (撤回, ``withdrawn_at``): it ends undecided, no money moved.
    The database refuses a decision by the requester, a second pending request on one
    account, and a status that does not match the decision, the withdrawal and the refund
    row."""

    account = models.ForeignKey(
        to="customers.Account",
        on_delete=models.PROTECT,
        related_name="refund_requests",
        verbose_name=_("account"),
    )
    amount = models.DecimalField(
        _("amount to refund"),
        max_digits=14,
        decimal_places=2,
        help_text=_("Positive: what is paid back (the refund row carries it negative)."),
    )
    channel = models.CharField(
        _("paid back by"), max_length=20, choices=[(c.value, c.label) for c in REFUND_CHANNELS]
    )
    reference = models.CharField(
        _("reference"),
        max_length=100,
        help_text=_("The bank transfer's serial number or the cash voucher's number."),
    )
    reason = models.CharField(_("refund reason"), max_length=300)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, unique=True)
    status = models.CharField(
        _("status"), max_length=10, choices=RefundRequestStatus.choices, default=RefundRequestStatus.PENDING
    )
    requested_by = models.CharField(_("requested by"), max_length=150)
    requested_by_user = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="refund_requests_made",
        verbose_name=_("requested by (user)"),
    )
    requested_at = models.DateTimeField(_("requested"))
    decided_by = models.CharField(_("decided by"), max_length=150, blank=True)
    decided_by_user = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="refund_requests_decided",
        null=True,
        blank=True,
        verbose_name=_("decided by (user)"),
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_note = models.CharField(_("decision reason"), max_length=300, blank=True)
    withdrawn_at = models.DateTimeField(
        _("withdrawn"),
        null=True,
        blank=True,
        help_text=_("When the requester withdrew the request (撤回) before anybody decided it."),
    )
    payment = models.OneToOneField(
        to="billing.Payment",
        on_delete=models.PROTECT,
        related_name="refund_request",
        null=True,
        blank=True,
        verbose_name=_("refund"),
        help_text=_("The refund row written when the request was approved."),
    )

    class Meta:
        verbose_name = _("refund request")
        verbose_name_plural = _("refund requests")
        ordering = ["-requested_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_request_amount_positive"),
            models.CheckConstraint(
                condition=Q(channel__in=REFUND_CHANNELS), name="refund_request_refund_channel"
            ),
            # Four eyes: whoever decides is not who asked.
            models.CheckConstraint(
                condition=~Q(decided_by_user=F("requested_by_user")), name="refund_request_four_eyes"
            ),
            # Pending: undecided, no money moved; approved: decided, its refund row written;
            # rejected: decided, no money moved; withdrawn (by its requester): undecided,
            # no money moved, the time of the withdrawal kept.
            models.CheckConstraint(
                condition=Q(
                    status=RefundRequestStatus.PENDING,
                    decided_at__isnull=True,
                    decided_by_user__isnull=True,
                    payment__isnull=True,
                    withdrawn_at__isnull=True,
                )
                | Q(
                    status=RefundRequestStatus.APPROVED,
                    decided_at__isnull=False,
                    decided_by_user__isnull=False,
                    payment__isnull=False,
                    withdrawn_at__isnull=True,
                )
                | Q(
                    status=RefundRequestStatus.REJECTED,
                    decided_at__isnull=False,
                    decided_by_user__isnull=False,
                    payment__isnull=True,
                    withdrawn_at__isnull=True,
                )
                | Q(
                    status=RefundRequestStatus.WITHDRAWN,
                    decided_at__isnull=True,
                    decided_by_user__isnull=True,
                    payment__isnull=True,
                    withdrawn_at__isnull=False,
                ),
                name="refund_request_status_matches",
            ),
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(status=RefundRequestStatus.PENDING),
                name="refund_request_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.amount}"

    @property
    def status_label(self) -> str:
        """The status as shown to people: waiting (待审批), rejected (已驳回), withdrawn by
        its requester (已撤回), or — once
        approved, the money paid — the refund row's own label (已退款, or 已冲正 when it was
        reversed because the money did not arrive)."""
        if self.status == RefundRequestStatus.APPROVED and self.payment is not None:
            return self.payment.status_label
        return str(self.get_status_display())


class PaymentAllocation(models.Model):
    """销账: part of a payment applied to a bill (its charge, an approved back-billing, or the
    late fee on it), oldest bill first; what is left goes to the account balance."""

    payment = models.ForeignKey(
        to="billing.Payment", on_delete=models.PROTECT, related_name="allocations", verbose_name=_("payment")
    )
    bill = models.ForeignKey(
        to="billing.Bill", on_delete=models.PROTECT, related_name="allocations", verbose_name=_("bill")
    )
    amount = models.DecimalField(_("principal"), max_digits=14, decimal_places=2)
    late_fee = models.DecimalField(_("late fee"), default=0, max_digits=14, decimal_places=2)
    late_fee_waived = models.DecimalField(
        _("late fee waived"),
        default=0,
        max_digits=14,
        decimal_places=2,
        help_text=_("The late fee on this part an approved waiver covered (not collected)."),
    )
    late_fee_topup = models.DecimalField(
        _("late fee beyond accrued"),
        default=0,
        max_digits=14,
        decimal_places=2,
        help_text=_(
            "Late fee charged or waived on this part minus the fee the part accrued itself: "
            "the top-up to the minimum (> 0), or a top-up collected earlier on the bill used "
            "up by this part's fee (< 0). Its sum over a bill's live parts is what later parts' "
            "fees are reduced by, so the minimum is charged once per bill."
        ),
    )
    created_at = models.DateTimeField(_("created"))
    reversed = models.BooleanField(_("reversed"), default=False)

    class Meta:
        verbose_name = _("payment allocation")
        verbose_name_plural = _("payment allocations")
        ordering = ["payment", "bill"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gte=0) & Q(late_fee__gte=0), name="allocation_nonnegative"
            ),
            models.CheckConstraint(condition=Q(late_fee_waived__gte=0), name="allocation_waived_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.payment_id} → {self.bill_id}: {self.amount}"


class LateFeeWaiver(models.Model):
    """违约金减免: a request to waive (part of) the late fee on a bill, approved by a second
    person; an approved waiver lowers the late fee of the next payment on the bill. That
    payment is recorded here (``used_by``, ``used_at``) in its own transaction, under the
    account lock — whether a waiver was used is read from this record, never from times.
    A waiver whose payment is reversed is unused again, and the next payment takes it."""

    bill = models.ForeignKey(
        to="billing.Bill", on_delete=models.PROTECT, related_name="late_fee_waivers", verbose_name=_("bill")
    )
    amount = models.DecimalField(_("amount waived"), max_digits=14, decimal_places=2)
    reason = models.TextField(_("reason"))
    status = models.CharField(
        _("status"), max_length=10, choices=DocumentStatus.choices, default=DocumentStatus.PENDING
    )
    requested_by = models.CharField(_("requested by"), max_length=150)
    requested_at = models.DateTimeField(_("requested"))
    decided_by = models.CharField(_("decided by"), max_length=150, blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    used_by = models.ForeignKey(
        to="billing.Payment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="late_fee_waivers_used",
        verbose_name=_("used by payment"),
        help_text=_(
            "The payment whose late fee this approved waiver lowered (the next payment on the "
            "bill after the approval). Empty: not used yet."
        ),
    )
    used_at = models.DateTimeField(_("used"), null=True, blank=True)

    class Meta:
        verbose_name = _("late-fee waiver")
        verbose_name_plural = _("late-fee waivers")
        ordering = ["-requested_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="waiver_amount_positive"),
            # Only an approved waiver is used, and a use has its payment and its time.
            models.CheckConstraint(
                condition=Q(used_by__isnull=True, used_at__isnull=True)
                | Q(status=DocumentStatus.APPROVED, used_by__isnull=False, used_at__isnull=False),
                name="waiver_used_when_approved",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bill_id}: {self.amount}"


class WithholdingBatch(models.Model):
    """银行代扣批次: the file of amounts sent to a bank and, later, the bank's result file
    (each line posted as a payment on the bank-withholding channel, keyed by batch and line)."""

    number = models.CharField(_("batch number"), max_length=20, unique=True)
    bank = models.CharField(_("bank"), max_length=50)
    status = models.CharField(
        _("status"), max_length=10, choices=WithholdingStatus.choices, default=WithholdingStatus.EXPORTED
    )
    lines = models.PositiveIntegerField(_("lines"), default=0)
    total = models.DecimalField(_("total"), default=0, max_digits=14, decimal_places=2)
    succeeded = models.PositiveIntegerField(_("succeeded"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    created_by = models.CharField(_("created by"), max_length=150)
    created_at = models.DateTimeField(_("created"))
    posted_at = models.DateTimeField(_("result posted"), null=True, blank=True)

    class Meta:
        verbose_name = _("withholding batch")
        verbose_name_plural = _("withholding batches")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.number


class PaymentCallbackLog(models.Model):
    """Every online-payment callback as received: accepted, a repeat, or rejected (bad
    signature, unknown account, bad body) with the reason — for reconciliation and audit."""

    channel = models.CharField(_("channel"), max_length=20)
    received_at = models.DateTimeField(_("callback received"))
    remote_addr = models.CharField(_("sender address"), max_length=60, blank=True)
    body = models.TextField(_("body"))
    outcome = models.CharField(_("outcome"), max_length=20)
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    payment = models.ForeignKey(
        to="billing.Payment",
        on_delete=models.PROTECT,
        related_name="callbacks",
        null=True,
        blank=True,
        verbose_name=_("payment"),
    )

    class Meta:
        verbose_name = _("payment callback")
        verbose_name_plural = _("payment callbacks")
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.channel} {self.outcome}"


# --- prepaid (费控) ----------------------------------------------------------------------------


class PrepaidCharge(models.Model):
    """费控日结: the estimated charge of a prepaid account for the energy used on one day
    (its 00:00 reading to the next day's; after a gap, from the last reading before it),
    deducted from its balance (``balance_after``). One row per account and day of use;
    ``days`` > 1 when missing readings made it cover the days before ``day`` too."""

    account = models.ForeignKey(
        to="customers.Account",
        on_delete=models.PROTECT,
        related_name="prepaid_charges",
        verbose_name=_("account"),
    )
    day = models.DateField(_("day"))
    days = models.PositiveSmallIntegerField(
        _("days covered"),
        default=1,
        help_text=_("Days of use the charge covers, ending on its day: more than 1 after missing readings."),
    )
    kwh = models.DecimalField(_("kWh"), max_digits=14, decimal_places=3)
    amount = models.DecimalField(_("charge"), max_digits=14, decimal_places=2)
    balance_after = models.DecimalField(_("balance after"), max_digits=14, decimal_places=2)
    created_at = models.DateTimeField(_("created"))

    class Meta:
        verbose_name = _("prepaid daily charge")
        verbose_name_plural = _("prepaid daily charges")
        ordering = ["account", "-day"]
        constraints = [
            models.UniqueConstraint(fields=["account", "day"], name="prepaid_charge_unique_day"),
            models.CheckConstraint(condition=Q(days__gte=1), name="prepaid_charge_days_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.day}"

    @property
    def first_day(self) -> dt.date:
        """The first day of use the charge covers (``day`` itself unless readings were missing)."""
        return self.day - dt.timedelta(days=self.days - 1)


class PrepaidNotice(models.Model):
    """A reminder sent to a prepaid customer (SMS and portal) when the balance crossed a
    threshold; the disconnection notice starts the notice period."""

    account = models.ForeignKey(
        to="customers.Account",
        on_delete=models.PROTECT,
        related_name="prepaid_notices",
        verbose_name=_("account"),
    )
    level = models.CharField(_("level"), max_length=20, choices=PrepaidNoticeLevel.choices)
    balance = models.DecimalField(_("balance"), max_digits=14, decimal_places=2)
    channels = models.CharField(_("channels"), max_length=50)
    message = models.TextField(_("message"))
    sent_at = models.DateTimeField(_("sent"))

    class Meta:
        verbose_name = _("prepaid notice")
        verbose_name_plural = _("prepaid notices")
        ordering = ["-sent_at"]

    def __str__(self) -> str:
        return f"{self.account_id} {self.level}"


class RemoteOrder(models.Model):
    """远程停复电指令 for a prepaid account's smart meter. A disconnect of an important
    customer (重要用户) is never automatic: it is created as ``NEEDS_PERSON``. A reconnect is
    due within the promised hours after payment."""

    account = models.ForeignKey(
        to="customers.Account",
        on_delete=models.PROTECT,
        related_name="remote_orders",
        verbose_name=_("account"),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=RemoteOrderKind.choices)
    status = models.CharField(
        _("status"), max_length=15, choices=RemoteOrderStatus.choices, default=RemoteOrderStatus.PENDING
    )
    reason = models.CharField(_("reason"), max_length=300)
    balance = models.DecimalField(_("balance"), max_digits=14, decimal_places=2)
    created_at = models.DateTimeField(_("created"))
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    executed_at = models.DateTimeField(_("executed"), null=True, blank=True)
    decided_by = models.CharField(_("decided by"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("remote order")
        verbose_name_plural = _("remote orders")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "kind"],
                condition=Q(
                    status__in=[
                        RemoteOrderStatus.PENDING,
                        RemoteOrderStatus.SENT,
                        RemoteOrderStatus.NEEDS_PERSON,
                    ]
                ),
                name="remote_order_one_open_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.kind} {self.status}"
