"""Inspection and anti-theft (用电检查, 防窃电).

Two signals find theft: a customer's own consumption pattern (``RiskScore`` rows of a
nightly ``ScoringRun`` with a versioned ``ModelArtefact``) and the energy balance of the
transformer area (``AreaLoss`` rows of a ``LineLossRun``, 台区线损). Inspectors work
``InspectionTask`` rows (from a periodic or targeted ``InspectionPlan``) with an on-site
``ChecklistItem`` list and ``Finding`` rows with photos; a finding of theft or a violation
becomes a ``Case`` whose amounts come from the penalty engine with the ``PenaltyRule``
values in force on the case's date. Every state change writes an audit row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from gridcare.customers.choices import ImportanceLevel
from gridcare.inspection.choices import (
    CaseKind,
    CaseStatus,
    ChecklistOutcome,
    ChecklistSection,
    FindingKind,
    PenaltyKey,
    PlanKind,
    RunStatus,
    TaskResult,
    TaskSource,
    TaskStatus,
    TheftMethod,
    UserType,
    ViolationKind,
)

# --- configuration ---------------------------------------------------------------------------


class PenaltyRule(models.Model):
    """One number of the theft and violation charges (domain-rules §3), effective-dated: the
    row with the latest ``effective_from`` on or before a case's date applies. ``is_cap``
    marks the 2024 wording "不高于…" (the value is a ceiling agreed in the contract)."""

    key = models.CharField(_("rule"), max_length=40, choices=PenaltyKey.choices)
    value = models.DecimalField(_("value"), max_digits=12, decimal_places=2)
    is_cap = models.BooleanField(_("is a ceiling (不高于)"), default=False)
    effective_from = models.DateField(_("effective from"))
    source = models.CharField(_("source"), max_length=300)
    created_by = models.CharField(_("created by"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("penalty rule")
        verbose_name_plural = _("penalty rules")
        ordering = ["key", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["key", "effective_from"], name="penalty_rule_key_date_unique"),
            models.CheckConstraint(condition=Q(value__gte=0), name="penalty_rule_value_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value} from {self.effective_from}"


class InspectionCycle(models.Model):
    """周期检查 rule: accounts of an importance level (or, with an empty level, of a voltage
    level) are inspected every ``interval_months``. Effective-dated configuration."""

    importance = models.CharField(_("importance"), max_length=10, choices=ImportanceLevel.choices, blank=True)
    voltage_level = models.CharField(_("voltage level"), max_length=10, blank=True)
    interval_months = models.PositiveSmallIntegerField(_("every (months)"))
    effective_from = models.DateField(_("effective from"))
    source = models.CharField(_("source"), max_length=300)

    class Meta:
        verbose_name = _("inspection cycle")
        verbose_name_plural = _("inspection cycles")
        ordering = ["importance", "voltage_level", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["importance", "voltage_level", "effective_from"], name="inspection_cycle_unique"
            ),
            models.CheckConstraint(condition=Q(interval_months__gte=1), name="inspection_cycle_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.importance or self.voltage_level}: {self.interval_months} months"


# --- theft risk scoring ----------------------------------------------------------------------


class ModelArtefact(models.Model):
    """A trained theft model on disk (``DATA_DIR/models/theft/<version>/``): the booster, the
    feature list, the threshold and how it was trained. One artefact is active; the nightly
    scoring loads it and checks its SHA-256."""

    version = models.CharField(_("version"), max_length=60, unique=True)
    path = models.CharField(_("path"), max_length=300, help_text=_("Relative to the data directory."))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    threshold = models.FloatField(_("threshold"))
    features = models.JSONField(_("features"), default=list)
    training = models.JSONField(_("training"), default=dict, help_text=_("Data, seed and held-out metrics."))
    trained_at = models.DateTimeField(_("trained"))
    is_active = models.BooleanField(_("active"), default=False)
    registered_by = models.CharField(_("registered by"), max_length=150, blank=True)
    registered_at = models.DateTimeField(_("registered"), auto_now_add=True)

    class Meta:
        verbose_name = _("theft model")
        verbose_name_plural = _("theft models")
        ordering = ["-registered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_theft_model"
            ),
        ]

    def __str__(self) -> str:
        return self.version


class ScoringRun(models.Model):
    """One scoring of the county's accounts over a window of daily consumption."""

    artefact = models.ForeignKey(
        to="inspection.ModelArtefact", on_delete=models.PROTECT, related_name="runs", verbose_name=_("model")
    )
    window_start = models.DateField(_("window start"))
    window_end = models.DateField(_("window end"))
    status = models.CharField(
        _("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING
    )
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    accounts_scored = models.PositiveIntegerField(_("accounts scored"), default=0)
    accounts_skipped = models.PositiveIntegerField(
        _("accounts not scored"),
        default=0,
        help_text=_("Active accounts with too few daily readings in the window to be scored."),
    )
    flagged = models.PositiveIntegerField(_("flagged"), default=0)
    seconds = models.FloatField(_("seconds"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    triggered_by = models.CharField(_("triggered by"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("scoring run")
        verbose_name_plural = _("scoring runs")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.artefact_id} {self.window_end}"


class RiskScore(models.Model):
    """One account's theft risk in a run, with its top reasons (feature, value, peer median,
    contribution) and the suspicious window of its consumption."""

    run = models.ForeignKey(
        to="inspection.ScoringRun", on_delete=models.CASCADE, related_name="scores", verbose_name=_("run")
    )
    account = models.ForeignKey(
        to="customers.Account",
        on_delete=models.PROTECT,
        related_name="risk_scores",
        verbose_name=_("account"),
    )
    transformer = models.ForeignKey(
        to="customers.Transformer",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name=_("transformer area"),
    )
    customer_class = models.CharField(_("customer class"), max_length=20)
    score = models.FloatField(_("risk score"))
    rank = models.PositiveIntegerField(_("rank"))
    flagged = models.BooleanField(_("above threshold"), default=False)
    reasons = models.JSONField(_("top reasons"), default=list)
    window_start = models.DateField(_("suspicious from"), null=True, blank=True)
    window_end = models.DateField(_("suspicious to"), null=True, blank=True)

    class Meta:
        verbose_name = _("risk score")
        verbose_name_plural = _("risk scores")
        ordering = ["run", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["run", "account"], name="risk_score_run_account_unique"),
            models.CheckConstraint(condition=Q(score__gte=0) & Q(score__lte=1), name="risk_score_range"),
        ]
        indexes = [models.Index(fields=["run", "rank"], name="risk_score_run_rank")]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.score:.3f}"


# --- line loss (台区线损) ----------------------------------------------------------------------


class LineLossRun(models.Model):
    """One line-loss analysis of every public transformer area over a window of days."""

    window_start = models.DateField(_("window start"))
    window_end = models.DateField(_("window end"))
    rate_threshold_pct = models.DecimalField(_("loss-rate threshold (%)"), max_digits=5, decimal_places=2)
    jump_threshold_pct = models.DecimalField(_("jump threshold (points)"), max_digits=5, decimal_places=2)
    status = models.CharField(
        _("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING
    )
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    areas = models.PositiveIntegerField(_("areas analysed"), default=0)
    flagged = models.PositiveIntegerField(_("areas flagged"), default=0)
    seconds = models.FloatField(_("seconds"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    triggered_by = models.CharField(_("triggered by"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("line-loss run")
        verbose_name_plural = _("line-loss runs")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.window_start}–{self.window_end}"


class AreaLoss(models.Model):
    """One transformer area in a line-loss run: the daily series (input, customers' sum,
    rate), the baseline and recent rates, whether it is flagged and why, and the customers
    ranked by how their drop lines up with the loss increase."""

    run = models.ForeignKey(
        to="inspection.LineLossRun",
        on_delete=models.CASCADE,
        related_name="area_losses",
        verbose_name=_("run"),
    )
    transformer = models.ForeignKey(
        to="customers.Transformer",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("transformer area"),
    )
    input_kwh = models.DecimalField(_("input energy (kWh)"), max_digits=16, decimal_places=3)
    billed_kwh = models.DecimalField(_("customers' energy (kWh)"), max_digits=16, decimal_places=3)
    loss_rate_pct = models.DecimalField(
        _("loss rate (%)"), max_digits=7, decimal_places=2, null=True, blank=True
    )
    baseline_rate_pct = models.DecimalField(
        _("baseline rate (%)"), max_digits=7, decimal_places=2, null=True, blank=True
    )
    recent_rate_pct = models.DecimalField(
        _("recent rate (%)"), max_digits=7, decimal_places=2, null=True, blank=True
    )
    complete_days = models.PositiveSmallIntegerField(_("complete days"), default=0)
    change_day = models.DateField(
        _("loss changed on"),
        null=True,
        blank=True,
        help_text=_("First day of the recent part (after the change point of the loss series)."),
    )
    flagged = models.BooleanField(_("flagged"), default=False)
    flag_reasons = models.JSONField(_("why flagged"), default=list)
    series = models.JSONField(_("daily series"), default=list)
    suspects = models.JSONField(_("ranked customers"), default=list)

    class Meta:
        verbose_name = _("area line loss")
        verbose_name_plural = _("area line losses")
        ordering = ["run", "-flagged", "-recent_rate_pct"]
        constraints = [
            models.UniqueConstraint(fields=["run", "transformer"], name="area_loss_run_transformer_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.transformer_id}: {self.loss_rate_pct}%"


# --- inspection work ---------------------------------------------------------------------------


class InspectionPlan(models.Model):
    """检查计划: a periodic plan (important customers due by their cycle) or a targeted one
    (from the risk list or the line-loss list); it creates the tasks."""

    number = models.CharField(_("number"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=PlanKind.choices)
    source = models.CharField(_("source"), max_length=10, choices=TaskSource.choices)
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("to"))
    criteria = models.JSONField(_("criteria"), default=dict)
    created_by = models.CharField(_("created by"), max_length=150)
    created_at = models.DateTimeField(_("created"))

    class Meta:
        verbose_name = _("inspection plan")
        verbose_name_plural = _("inspection plans")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gte=models.F("period_start")), name="plan_period_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class InspectionTask(models.Model):
    """检查任务: one account to inspect, assigned to an inspector, with its checklist,
    findings and result. ``version`` guards concurrent edits (optimistic lock)."""

    number = models.CharField(_("number"), max_length=20, unique=True)
    plan = models.ForeignKey(
        to="inspection.InspectionPlan",
        on_delete=models.PROTECT,
        related_name="tasks",
        null=True,
        blank=True,
        verbose_name=_("plan"),
    )
    account = models.ForeignKey(
        to="customers.Account",
        on_delete=models.PROTECT,
        related_name="inspection_tasks",
        verbose_name=_("account"),
    )
    source = models.CharField(_("source"), max_length=10, choices=TaskSource.choices)
    risk_score = models.ForeignKey(
        to="inspection.RiskScore",
        on_delete=models.SET_NULL,
        related_name="tasks",
        null=True,
        blank=True,
        verbose_name=_("risk score"),
    )
    area_loss = models.ForeignKey(
        to="inspection.AreaLoss",
        on_delete=models.SET_NULL,
        related_name="tasks",
        null=True,
        blank=True,
        verbose_name=_("line-loss area"),
    )
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=TaskStatus.choices, default=TaskStatus.PLANNED
    )
    inspector = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="inspection_tasks",
        null=True,
        blank=True,
        verbose_name=_("inspector"),
    )
    due_on = models.DateField(_("due"))
    started_at = models.DateTimeField(_("started on site"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    result = models.CharField(_("result"), max_length=10, choices=TaskResult.choices, blank=True)
    result_notes = models.TextField(_("result notes"), blank=True)
    created_by = models.CharField(_("created by"), max_length=150)
    created_at = models.DateTimeField(_("created"))
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        verbose_name = _("inspection task")
        verbose_name_plural = _("inspection tasks")
        ordering = ["due_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="completed") | ~Q(result=""), name="task_completed_has_result"
            ),
            models.CheckConstraint(
                condition=Q(status="planned") | Q(status="cancelled") | Q(inspector__isnull=False),
                name="task_assigned_has_inspector",
            ),
        ]
        indexes = [models.Index(fields=["status", "due_on"], name="inspection_task_status_due")]

    def __str__(self) -> str:
        return self.number


class ChecklistItem(models.Model):
    """One line of a task's on-site checklist (the items come from ``engine.checklist``)."""

    task = models.ForeignKey(
        to="inspection.InspectionTask",
        on_delete=models.CASCADE,
        related_name="checklist",
        verbose_name=_("task"),
    )
    section = models.CharField(_("section"), max_length=10, choices=ChecklistSection.choices)
    code = models.CharField(_("item"), max_length=30)
    outcome = models.CharField(_("outcome"), max_length=4, choices=ChecklistOutcome.choices, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    position = models.PositiveSmallIntegerField(_("position"))

    class Meta:
        verbose_name = _("checklist item")
        verbose_name_plural = _("checklist items")
        ordering = ["task", "position"]
        constraints = [models.UniqueConstraint(fields=["task", "code"], name="checklist_task_code_unique")]

    def __str__(self) -> str:
        return f"{self.task_id} {self.code}={self.outcome}"


class Finding(models.Model):
    """检查发现: what the inspector recorded on site, with photos. A theft or violation
    finding opens a case."""

    task = models.ForeignKey(
        to="inspection.InspectionTask",
        on_delete=models.PROTECT,
        related_name="findings",
        verbose_name=_("task"),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=FindingKind.choices)
    theft_method = models.CharField(_("theft method"), max_length=12, choices=TheftMethod.choices, blank=True)
    violation_kind = models.CharField(
        _("violation kind"), max_length=20, choices=ViolationKind.choices, blank=True
    )
    description = models.TextField(_("description"))
    recorded_by = models.CharField(_("recorded by"), max_length=150)
    recorded_at = models.DateTimeField(_("recorded"))

    class Meta:
        verbose_name = _("finding")
        verbose_name_plural = _("findings")
        ordering = ["recorded_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="theft") | ~Q(theft_method=""), name="finding_theft_has_method"
            ),
            models.CheckConstraint(
                condition=~Q(kind="violation") | ~Q(violation_kind=""), name="finding_violation_has_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_id} {self.kind}"


def finding_photo_path(instance: FindingPhoto, filename: str) -> str:
    return f"inspection/{instance.finding.task_id}/{filename}"


class FindingPhoto(models.Model):
    """现场照片/附件 of a finding, served only through a permission-checked view."""

    finding = models.ForeignKey(
        to="inspection.Finding", on_delete=models.PROTECT, related_name="photos", verbose_name=_("finding")
    )
    file = models.FileField(_("file"), upload_to=finding_photo_path, max_length=300)
    name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveIntegerField(_("size (bytes)"))
    uploaded_by = models.CharField(_("uploaded by"), max_length=150)
    uploaded_at = models.DateTimeField(_("uploaded"))

    class Meta:
        verbose_name = _("finding photo")
        verbose_name_plural = _("finding photos")
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.name


# --- cases -------------------------------------------------------------------------------------


class Case(models.Model):
    """窃电/违约用电案件: the account, the facts (``inputs``: capacity, user type, hours, known
    period, prices …), the amounts the penalty engine computed with the rules in force on
    ``occurred_on`` (``basis`` keeps every number used and the formula), approval by a second
    person, the notice, and the posting to billing (a back-billing ``BillAdjustment``)."""

    number = models.CharField(_("number"), max_length=20, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=CaseKind.choices)
    violation_kind = models.CharField(
        _("violation kind"), max_length=20, choices=ViolationKind.choices, blank=True
    )
    theft_method = models.CharField(_("theft method"), max_length=12, choices=TheftMethod.choices, blank=True)
    user_type = models.CharField(_("user type"), max_length=10, choices=UserType.choices, blank=True)
    account = models.ForeignKey(
        to="customers.Account",
        on_delete=models.PROTECT,
        related_name="inspection_cases",
        verbose_name=_("account"),
    )
    task = models.ForeignKey(
        to="inspection.InspectionTask",
        on_delete=models.PROTECT,
        related_name="cases",
        null=True,
        blank=True,
        verbose_name=_("task"),
    )
    finding = models.ForeignKey(
        to="inspection.Finding",
        on_delete=models.PROTECT,
        related_name="cases",
        null=True,
        blank=True,
        verbose_name=_("finding"),
    )
    occurred_on = models.DateField(_("found on"), help_text=_("The rules in force on this day apply."))
    facts = models.TextField(_("facts"), blank=True)
    inputs = models.JSONField(_("inputs"), default=dict)
    energy_kwh = models.DecimalField(_("energy (kWh)"), max_digits=14, decimal_places=3, default=0)
    back_charge = models.DecimalField(_("back charge (追补电费)"), max_digits=14, decimal_places=2, default=0)
    penalty = models.DecimalField(_("penalty (违约使用电费)"), max_digits=14, decimal_places=2, default=0)
    total = models.DecimalField(_("total"), max_digits=14, decimal_places=2, default=0)
    basis = models.JSONField(_("basis"), default=dict)
    status = models.CharField(
        _("status"), max_length=10, choices=CaseStatus.choices, default=CaseStatus.DRAFT
    )
    created_by = models.CharField(_("created by"), max_length=150)
    created_at = models.DateTimeField(_("created"))
    submitted_by = models.CharField(_("submitted by"), max_length=150, blank=True)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    decided_by = models.CharField(_("decided by"), max_length=150, blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_note = models.CharField(_("decision note"), max_length=300, blank=True)
    notified_at = models.DateTimeField(_("notice served"), null=True, blank=True)
    bill_adjustment = models.ForeignKey(
        to="billing.BillAdjustment",
        on_delete=models.PROTECT,
        related_name="inspection_cases",
        null=True,
        blank=True,
        verbose_name=_("bill adjustment"),
    )
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="violation") | ~Q(violation_kind=""), name="case_violation_has_kind"
            ),
            models.CheckConstraint(
                condition=Q(energy_kwh__gte=0) & Q(back_charge__gte=0) & Q(penalty__gte=0) & Q(total__gte=0),
                name="case_amounts_nonnegative",
            ),
        ]
        permissions = [("approve_case", "Can approve theft and violation cases")]

    def __str__(self) -> str:
        return self.number
