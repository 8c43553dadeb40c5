"""Shared-kernel tables: the audit trail, the working-day calendar overrides, login throttling."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """审计日志: one append-only row per state change — who, when, what, before/after.

    Written only through :func:`gridcare.core.audit.audit_record`. The database refuses
    UPDATE on this table (a trigger added by migration), so history cannot be rewritten.
    """

    at = models.DateTimeField(_("time"), db_index=True)
    actor = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
        verbose_name=_("actor"),
    )
    actor_label = models.CharField(_("actor name"), max_length=150, blank=True)
    object_type = models.CharField(_("object type"), max_length=100, db_index=True)
    object_id = models.CharField(_("object id"), max_length=64, db_index=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "at"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_repr}"


class CalendarDay(models.Model):
    """工作日历调整: a day whose working/non-working status overrides the package.

    Used for years the ``chinesecalendar`` package does not know yet (enter the State
    Council's 放假安排 when it is published) and for local corrections.
    """

    date = models.DateField(_("date"), unique=True)
    is_workday = models.BooleanField(_("working day"))
    name = models.CharField(_("name"), max_length=100, blank=True, help_text=_("e.g. 春节 or 春节调休上班"))
    source = models.CharField(
        _("source"), max_length=300, blank=True, help_text=_("The notice this day comes from.")
    )

    class Meta:
        verbose_name = _("calendar override")
        verbose_name_plural = _("calendar overrides")
        ordering = ["date"]

    def __str__(self) -> str:
        kind = _("working day") if self.is_workday else _("day off")
        return f"{self.date} {kind} {self.name}"


class LoginThrottle(models.Model):
    """Failed-login counter per key (user name or client address) with a lock-out time."""

    key = models.CharField(_("key"), max_length=200, unique=True)
    failures = models.PositiveIntegerField(_("failures"), default=0)
    first_failure_at = models.DateTimeField(_("first failure"), null=True, blank=True)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)

    class Meta:
        verbose_name = _("login throttle")
        verbose_name_plural = _("login throttles")

    def __str__(self) -> str:
        return f"{self.key}: {self.failures}"


class NumberSequence(models.Model):
    """A named counter for business numbers (户号, contract numbers, later work-order numbers).

    Incremented under a row lock by :func:`gridcare.core.ids.next_number`, so two clerks
    never get the same number.
    """

    name = models.CharField(_("name"), max_length=50, unique=True)
    next_value = models.BigIntegerField(_("next value"), default=1)

    class Meta:
        verbose_name = _("number sequence")
        verbose_name_plural = _("number sequences")
        constraints = [
            models.CheckConstraint(condition=models.Q(next_value__gte=1), name="seq_next_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} → {self.next_value}"


class PeriodicJob(models.Model):
    """A job the background worker enqueues every ``interval_seconds`` (the SLA tick, the
    readings sweep …). ``gridcare worker`` claims a due row under a row lock, so several
    workers never enqueue the same run twice."""

    name = models.CharField(_("name"), max_length=80, unique=True)
    task_path = models.CharField(_("task"), max_length=200)
    interval_seconds = models.PositiveIntegerField(_("every (seconds)"))
    enabled = models.BooleanField(_("enabled"), default=True)
    next_run_at = models.DateTimeField(_("next run"), null=True, blank=True)
    last_enqueued_at = models.DateTimeField(_("last enqueued"), null=True, blank=True)

    class Meta:
        verbose_name = _("periodic job")
        verbose_name_plural = _("periodic jobs")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(interval_seconds__gte=10), name="periodic_job_interval_min"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} every {self.interval_seconds}s"
