"""Service quality (服务质量): the service standards (服务标准) every SLA clock reads, and the
breach record the KPIs count. Surveys, training, reward/penalty and supervision come later.

A standard is configuration with an effective date and its source (domain-rules §1–2), never
a constant in code: a company loads the current values without a release.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from gridcare.workorders.choices import Channel, Grade, SlaBasis, SlaStage, WorkOrderKind


class SourceStatus(models.TextChoices):
    """How firmly the value is sourced (the tags of domain-rules.md)."""

    CONFIRMED = "confirmed", _("Confirmed")
    CONFIRMED_WEAK = "confirmed_weak", _("Confirmed (weak source)")
    UNCONFIRMED = "unconfirmed", _("Unconfirmed")
    LOCAL = "local", _("Company rule")


class ServiceStandard(models.Model):
    """服务标准: the allowed time for one stage of one kind of work order.

    Blank ``sub_type`` / ``channel`` / ``grade`` match any value; when several rows match an
    order, the most specific one (most non-blank matches) in force on the start day wins.
    """

    code = models.CharField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("work order kind"), max_length=30, choices=WorkOrderKind.choices)
    sub_type = models.CharField(
        _("category code"), max_length=40, blank=True, help_text=_("A category code or blank for any.")
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices, blank=True)
    grade = models.CharField(_("grade"), max_length=10, choices=Grade.choices, blank=True)
    stage = models.CharField(_("stage"), max_length=20, choices=SlaStage.choices)
    basis = models.CharField(_("counted in"), max_length=20, choices=SlaBasis.choices)
    amount = models.DecimalField(_("allowed"), max_digits=7, decimal_places=2)
    pausable = models.BooleanField(
        _("may pause"), default=False, help_text=_("The clock may stop while waiting for the customer.")
    )
    warn_ratio = models.DecimalField(
        _("warn at share of allowed time"), max_digits=3, decimal_places=2, default=0.75
    )
    effective_from = models.DateField(_("effective from"))
    effective_to = models.DateField(_("effective to"), null=True, blank=True)
    source = models.TextField(_("source"), blank=True)
    source_status = models.CharField(_("source status"), max_length=20, choices=SourceStatus.choices)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("service standard")
        verbose_name_plural = _("service standards")
        ordering = ["kind", "stage", "code", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["code", "effective_from"], name="service_standard_code_from_unique"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="service_standard_amount_positive"),
            models.CheckConstraint(
                condition=Q(warn_ratio__gt=0) & Q(warn_ratio__lt=1), name="service_standard_warn_ratio_range"
            ),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gt=models.F("effective_from")),
                name="service_standard_period_order",
            ),
            models.CheckConstraint(
                condition=Q(basis__in=SlaBasis.values), name="service_standard_basis_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class SlaBreach(models.Model):
    """超时记录: one row per clock that passed its deadline, denormalised for KPI counts
    (by team, kind, channel, grade, stage and month)."""

    clock = models.OneToOneField(
        to="workorders.SlaClock", on_delete=models.PROTECT, related_name="breach", verbose_name=_("clock")
    )
    order = models.ForeignKey(
        to="workorders.WorkOrder",
        on_delete=models.PROTECT,
        related_name="breaches",
        verbose_name=_("work order"),
    )
    standard = models.ForeignKey(
        to="quality.ServiceStandard",
        on_delete=models.PROTECT,
        related_name="breaches",
        verbose_name=_("standard"),
    )
    kind = models.CharField(_("work order kind"), max_length=30)
    channel = models.CharField(_("channel"), max_length=20)
    grade = models.CharField(_("grade"), max_length=10)
    stage = models.CharField(_("stage"), max_length=20)
    team = models.ForeignKey(
        to="workorders.Team",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="breaches",
        verbose_name=_("team"),
    )
    assignee = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sla_breaches",
        verbose_name=_("assignee"),
    )
    due_at = models.DateTimeField(_("due"))
    breached_at = models.DateTimeField(_("recorded"), db_index=True)

    class Meta:
        verbose_name = _("SLA breach")
        verbose_name_plural = _("SLA breaches")
        ordering = ["-breached_at"]

    def __str__(self) -> str:
        return f"{self.order_id}/{self.stage} due {self.due_at:%Y-%m-%d %H:%M}"
