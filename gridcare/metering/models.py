"""电能计量: meter assets and their installations, daily register readings with their
validation (VEE) results, import jobs, meter verification requests and the 退补 records
they raise for billing. Interval load curves (96 points a day) are not here: they live in
Parquet files (see ``gridcare.metering.interval``)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from gridcare.metering.choices import (
    AccuracyClass,
    AdjustmentDirection,
    AdjustmentStatus,
    ExceptionStatus,
    ImportStatus,
    MeterStatus,
    MeterType,
    ReadingQuality,
    ReadingSource,
    Register,
    VeeRule,
    VerificationStatus,
)


class Meter(models.Model):
    """电能表 asset: what it measures (registers), how it counts (digits, multiplier) and
    where it is in its lifecycle.

    ``registers`` lists the register codes the meter carries (``Register`` values).
    ``digits`` is the number of integer digits of the display: a register rolls over to 0
    after ``10**digits - 1``. ``multiplier`` (综合倍率 = CT ratio × PT ratio) turns register
    differences into energy: kWh = (reading − previous) × multiplier.
    """

    asset_no = models.CharField(_("asset number"), max_length=32, unique=True)
    barcode = models.CharField(_("barcode"), max_length=32, unique=True)
    meter_type = models.CharField(_("type"), max_length=10, choices=MeterType.choices)
    is_smart = models.BooleanField(_("smart meter"), default=True)
    remote_cutoff = models.BooleanField(_("remote cut-off capable (费控)"), default=False)
    registers = models.JSONField(_("registers"), default=list)
    digits = models.PositiveSmallIntegerField(_("integer digits"), default=6)
    multiplier = models.DecimalField(_("multiplier (倍率)"), max_digits=10, decimal_places=2, default=1)
    accuracy_class = models.CharField(_("accuracy class"), max_length=6, choices=AccuracyClass.choices)
    manufacturer = models.CharField(_("manufacturer"), max_length=100, blank=True)
    manufactured_on = models.DateField(_("manufactured on"))
    last_verified_on = models.DateField(_("last verified on"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=MeterStatus.choices, default=MeterStatus.IN_STOCK
    )

    class Meta:
        verbose_name = _("meter")
        verbose_name_plural = _("meters")
        ordering = ["asset_no"]
        constraints = [
            models.CheckConstraint(condition=Q(digits__gte=4, digits__lte=10), name="meter_digits_range"),
            models.CheckConstraint(condition=Q(multiplier__gt=0), name="meter_multiplier_positive"),
            models.CheckConstraint(condition=Q(status__in=MeterStatus.values), name="meter_status_valid"),
            models.CheckConstraint(condition=Q(meter_type__in=MeterType.values), name="meter_type_valid"),
        ]

    def __str__(self) -> str:
        return self.asset_no


class Installation(models.Model):
    """装表记录: one meter at one service point (and the account billed there) over a span
    of time. The open installation has ``removed_at`` empty; the readings at both ends are
    kept per register so consumption across a meter exchange (换表) is exact. The spans at
    one service point do not overlap (one meter per 计量点; an end may touch the next start)."""

    meter = models.ForeignKey(
        to="metering.Meter", on_delete=models.PROTECT, related_name="installations", verbose_name=_("meter")
    )
    service_point = models.ForeignKey(
        to="customers.ServicePoint",
        on_delete=models.PROTECT,
        related_name="installations",
        verbose_name=_("service point"),
    )
    account = models.ForeignKey(
        to="customers.Account",
        on_delete=models.PROTECT,
        related_name="installations",
        verbose_name=_("account"),
    )
    installed_at = models.DateTimeField(_("installed at"))
    removed_at = models.DateTimeField(_("removed at"), null=True, blank=True)
    initial_readings = models.JSONField(_("initial readings"), default=dict)
    final_readings = models.JSONField(_("final readings"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("installation")
        verbose_name_plural = _("installations")
        ordering = ["-installed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["meter"], condition=Q(removed_at__isnull=True), name="installation_one_open_per_meter"
            ),
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(removed_at__isnull=True),
                name="installation_one_open_per_account",
            ),
            # A service point is one metering point (计量点): one meter installed there at a
            # time, whatever the account (the service refuses back-dated overlaps as well).
            models.UniqueConstraint(
                fields=["service_point"],
                condition=Q(removed_at__isnull=True),
                name="installation_one_open_per_service_point",
            ),
            models.CheckConstraint(
                condition=Q(removed_at__isnull=True) | Q(removed_at__gte=models.F("installed_at")),
                name="installation_removed_after_installed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.meter_id}@{self.service_point_id}"


class MeterClassPolicy(models.Model):
    """Configuration per accuracy class, effective-dated with its source: the allowed error
    (校验误差限) and the periodic verification / replacement rules (周期检定/轮换)."""

    accuracy_class = models.CharField(_("accuracy class"), max_length=6, choices=AccuracyClass.choices)
    effective_from = models.DateField(_("effective from"))
    tolerance_pct = models.DecimalField(_("allowed error (±%)"), max_digits=5, decimal_places=2)
    verification_interval_months = models.PositiveSmallIntegerField(_("verification interval (months)"))
    replacement_years = models.PositiveSmallIntegerField(_("replace after (years)"))
    source = models.CharField(_("source"), max_length=300)

    class Meta:
        verbose_name = _("meter class policy")
        verbose_name_plural = _("meter class policies")
        ordering = ["accuracy_class", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["accuracy_class", "effective_from"], name="meter_policy_unique"),
            models.CheckConstraint(condition=Q(tolerance_pct__gt=0), name="meter_policy_tolerance_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.accuracy_class} ±{self.tolerance_pct}% from {self.effective_from}"


class VeeParameters(models.Model):
    """VEE thresholds as configuration, effective-dated (the newest row not after the
    reading day applies)."""

    effective_from = models.DateField(_("effective from"), unique=True)
    spike_factor = models.DecimalField(
        _("spike factor k"), max_digits=6, decimal_places=2, help_text=_("Daily use above k × recent median.")
    )
    spike_window_days = models.PositiveSmallIntegerField(_("median window (days)"))
    spike_min_kwh = models.DecimalField(
        _("spike floor (kWh)"), max_digits=10, decimal_places=3, help_text=_("Ignore spikes below this use.")
    )
    zero_run_days = models.PositiveSmallIntegerField(_("zero-use run (days)"))
    tou_tolerance_kwh = models.DecimalField(_("TOU sum tolerance (kWh)"), max_digits=10, decimal_places=3)
    auto_estimate_max_days = models.PositiveSmallIntegerField(
        _("auto-estimate gaps up to (days)"),
        default=3,
        help_text=_(
            "Gaps between two valid reads up to this length are estimated at import; longer or "
            "trailing gaps open a missing-days exception."
        ),
    )
    source = models.CharField(_("source"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("VEE parameters")
        verbose_name_plural = _("VEE parameters")
        ordering = ["-effective_from"]

    def __str__(self) -> str:
        return f"VEE from {self.effective_from}"


class ReadingImport(models.Model):
    """抄表数据导入: one import job (a file or an API batch) with its progress and outcome."""

    source_name = models.CharField(_("file or batch"), max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    channel = models.CharField(
        _("channel"), max_length=10, choices=ReadingSource.choices, default=ReadingSource.AMI
    )
    status = models.CharField(
        _("status"), max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    total_rows = models.PositiveIntegerField(_("rows in file"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows processed"), default=0)
    inserted_rows = models.PositiveIntegerField(_("readings stored"), default=0)
    duplicate_rows = models.PositiveIntegerField(_("already stored"), default=0)
    rejected_rows = models.PositiveIntegerField(_("rows rejected"), default=0)
    exceptions_opened = models.PositiveIntegerField(_("exceptions opened"), default=0)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reading_imports",
        verbose_name=_("imported by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("reading import")
        verbose_name_plural = _("reading imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.source_name


class ImportRejection(models.Model):
    """One rejected row of an import with its reason (never stored as a reading)."""

    reading_import = models.ForeignKey(
        to="metering.ReadingImport",
        on_delete=models.CASCADE,
        related_name="rejections",
        verbose_name=_("import"),
    )
    line_no = models.PositiveIntegerField(_("line"))
    raw = models.TextField(_("row as received"))
    reason = models.CharField(_("reason"), max_length=40)
    detail = models.CharField(_("detail"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("rejected row")
        verbose_name_plural = _("rejected rows")
        ordering = ["reading_import", "line_no"]

    def __str__(self) -> str:
        return f"{self.line_no}: {self.reason}"


class Reading(models.Model):
    """日冻结示数: one register value of one meter on one day, with its source and quality.

    Unique per (meter, register, day): importing the same data twice stores it once.
    """

    # The primary key is the natural key (meter, register, day): one B-tree, no surrogate id
    # (a second B-tree cost 40 % of a bulk load). No separate index on meter: the key
    # starts with it.
    pk = models.CompositePrimaryKey("meter_id", "register", "day")
    # The reference to the meter is enforced by triggers (migration 0006) instead of a
    # per-row foreign-key check: on PostgreSQL one statement-level check of all the rows a
    # COPY or INSERT brought in (an anti-join on the transition table) plus a guard against
    # deleting a meter that has readings; on SQLite a row trigger. Same guarantee, without
    # a per-row key lookup at commit on the bulk path (a third of a 1M-row import).
    meter = models.ForeignKey(
        to="metering.Meter",
        on_delete=models.PROTECT,
        related_name="readings",
        verbose_name=_("meter"),
        db_index=False,
        db_constraint=False,
    )
    register = models.CharField(_("register"), max_length=8, choices=Register.choices)
    day = models.DateField(_("day"))
    value = models.DecimalField(_("reading"), max_digits=14, decimal_places=3)
    source = models.CharField(_("source"), max_length=10, choices=ReadingSource.choices)
    quality = models.CharField(
        _("quality"), max_length=10, choices=ReadingQuality.choices, default=ReadingQuality.VALID
    )
    # Provenance only: which import brought the reading. Neither indexed nor a database
    # foreign key, because on the bulk path (millions of rows per import) the index upkeep
    # and the per-row key check cost more than the rest of VEE together. Import jobs are
    # never deleted (PROTECT below and no delete path), so the link cannot dangle; an
    # import's readings are found through its time span and meters when needed.
    reading_import = models.ForeignKey(
        to="metering.ReadingImport",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="readings",
        verbose_name=_("import"),
        db_index=False,
        db_constraint=False,
    )

    class Meta:
        verbose_name = _("reading")
        verbose_name_plural = _("readings")
        ordering = ["meter", "register", "day"]
        constraints = [
            models.CheckConstraint(condition=Q(value__gte=0), name="reading_value_nonnegative"),
        ]
        # No B-tree on ``day``: every query names the meter (the unique key serves it), and a
        # third B-tree cost a second per million imported readings. Migration 0007 adds a
        # BRIN index on ``day`` on PostgreSQL (AMI loads arrive a day at a time, so the
        # table is physically in day order and BRIN stays tiny and nearly free to maintain).

    def __str__(self) -> str:
        return f"{self.meter_id} {self.register} {self.day} {self.value}"

    @property
    def key_on_meter(self) -> str:
        """The reading's key within its meter, ``register:YYYY-MM-DD`` (the edit form's value)."""
        return f"{self.register}:{self.day.isoformat()}"

    @staticmethod
    def split_key_on_meter(key: str) -> tuple[str, dt.date]:
        """``key_on_meter`` back into (register, day); ValueError when it is not one."""
        register, _sep, day = key.partition(":")
        return register, dt.date.fromisoformat(day)


class ReadingException(models.Model):
    """抄表异常: a VEE rule failure on a meter's register over a span of days.

    While an exception is open (or sent for re-read) the account is held from billing,
    unless a clerk accepts, estimates or releases it.
    """

    meter = models.ForeignKey(
        to="metering.Meter", on_delete=models.PROTECT, related_name="exceptions", verbose_name=_("meter")
    )
    account = models.ForeignKey(
        to="customers.Account",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reading_exceptions",
        verbose_name=_("account"),
    )
    register = models.CharField(_("register"), max_length=8, choices=Register.choices)
    rule = models.CharField(_("rule"), max_length=16, choices=VeeRule.choices)
    day_from = models.DateField(_("from"))
    day_to = models.DateField(_("to"))
    detail = models.JSONField(_("detail"), default=dict)
    status = models.CharField(
        _("status"), max_length=10, choices=ExceptionStatus.choices, default=ExceptionStatus.OPEN
    )
    reading_import = models.ForeignKey(
        to="metering.ReadingImport",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exceptions",
        verbose_name=_("import"),
    )
    opened_at = models.DateTimeField(_("opened"))
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="resolved_reading_exceptions",
        verbose_name=_("resolved by"),
    )
    resolution_note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("reading exception")
        verbose_name_plural = _("reading exceptions")
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["meter", "register", "rule", "day_from"], name="reading_exception_unique"
            ),
            models.CheckConstraint(
                condition=Q(day_to__gte=models.F("day_from")), name="reading_exception_span"
            ),
        ]
        indexes = [models.Index(fields=["status", "rule"], name="reading_exception_queue_idx")]

    def __str__(self) -> str:
        return f"{self.rule} {self.meter_id} {self.day_from}"


class VerificationRequest(models.Model):
    """计量装置校验申请: a customer disputes a meter; the result is due within the promised
    working days (十项承诺 第七条: 5 working days)."""

    number = models.CharField(_("request number"), max_length=20, unique=True)
    account = models.ForeignKey(
        to="customers.Account",
        on_delete=models.PROTECT,
        related_name="verification_requests",
        verbose_name=_("account"),
    )
    meter = models.ForeignKey(
        to="metering.Meter",
        on_delete=models.PROTECT,
        related_name="verification_requests",
        verbose_name=_("meter"),
    )
    channel = models.CharField(_("channel"), max_length=20, default="counter")
    requested_at = models.DateTimeField(_("requested at"))
    due_at = models.DateTimeField(_("result due"))
    complaint = models.TextField(_("customer's statement"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=VerificationStatus.choices, default=VerificationStatus.OPEN
    )
    tested_at = models.DateTimeField(_("tested at"), null=True, blank=True)
    error_pct = models.DecimalField(
        _("measured error (%)"), max_digits=6, decimal_places=2, null=True, blank=True
    )
    tolerance_pct = models.DecimalField(
        _("allowed error (±%)"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    within_tolerance = models.BooleanField(_("within tolerance"), null=True, blank=True)
    tester = models.CharField(_("tester"), max_length=100, blank=True)
    created_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="verification_requests",
        verbose_name=_("filed by"),
    )

    class Meta:
        verbose_name = _("meter verification request")
        verbose_name_plural = _("meter verification requests")
        ordering = ["-requested_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(due_at__gte=models.F("requested_at")), name="verification_due_after"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class Adjustment(models.Model):
    """退补记录: energy to refund or back-bill after a meter tested out of tolerance, over
    the period the rule gives (1996 供电营业规则 第八十条: half the time since the last
    verification or replacement). Billing settles it."""

    account = models.ForeignKey(
        to="customers.Account",
        on_delete=models.PROTECT,
        related_name="adjustments",
        verbose_name=_("account"),
    )
    meter = models.ForeignKey(
        to="metering.Meter", on_delete=models.PROTECT, related_name="adjustments", verbose_name=_("meter")
    )
    verification = models.OneToOneField(
        to="metering.VerificationRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="adjustment",
        verbose_name=_("verification request"),
    )
    direction = models.CharField(_("direction"), max_length=10, choices=AdjustmentDirection.choices)
    error_pct = models.DecimalField(_("error (%)"), max_digits=6, decimal_places=2)
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    rule = models.CharField(_("rule applied"), max_length=200)
    status = models.CharField(
        _("status"), max_length=10, choices=AdjustmentStatus.choices, default=AdjustmentStatus.OPEN
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("refund / back-billing record")
        verbose_name_plural = _("refund / back-billing records")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="adjustment_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.account_id} {self.period_start}–{self.period_end}"


class VerificationPolicy(models.Model):
    """校验时限: how many working days the company has to give the customer the result of a
    meter verification request, effective-dated with its source (国家电网十项承诺 第七条:
    5 working days since 2023). The newest row not after the request's date applies."""

    effective_from = models.DateField(_("effective from"), unique=True)
    result_working_days = models.PositiveSmallIntegerField(_("result due within (working days)"))
    source = models.CharField(_("source"), max_length=300)

    class Meta:
        verbose_name = _("verification policy")
        verbose_name_plural = _("verification policies")
        ordering = ["-effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(result_working_days__gte=1), name="verification_policy_days_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.result_working_days} working days from {self.effective_from}"
