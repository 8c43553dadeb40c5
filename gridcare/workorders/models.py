"""The 95598 work-order backbone (工单) and the complaint/report closed loop (投诉举报).

One ``WorkOrder`` table for every kind; a kind's states and transitions are data
(``workflows/*.toml``) run by one engine (``engine/workflow.py``). Every change is a
``WorkOrderEvent`` on the order's timeline and an audit row. SLA clocks (``SlaClock``) run
per stage against the service standards of ``quality``.

A report's reporter (举报人) is stored apart in ``ReporterIdentity``; only users holding
``workorders.view_reporteridentity`` may read it, and reading it is audited.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from gridcare.workorders.choices import (
    AlertKind,
    Channel,
    ContactMethod,
    EventType,
    Grade,
    Satisfaction,
    SlaBasis,
    SlaStage,
    WorkOrderKind,
)


class Team(models.Model):
    """班组: who works orders (95598 坐席班, 客服中心, 营业班 …). The supervisor receives the
    escalations of the team's breached orders."""

    code = models.CharField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=100)
    supervisor = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="supervised_teams",
        verbose_name=_("supervisor"),
    )
    members = models.ManyToManyField(
        to=settings.AUTH_USER_MODEL, blank=True, related_name="workorder_teams", verbose_name=_("members")
    )
    kinds = models.JSONField(
        _("default for kinds"), default=list, blank=True, help_text=_("Kinds new orders go to by default.")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Category(models.Model):
    """业务分类: the category tree of a kind (complaints: 服务 / 营业 / 停送电 / 供电质量 /
    电网建设 with sub-categories, domain-rules §2). A service request's sub-type (复电登记,
    电能表异常 …) is its category; service standards may name a category code."""

    kind = models.CharField(_("work order kind"), max_length=30, choices=WorkOrderKind.choices)
    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name (Chinese)"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100)
    parent = models.ForeignKey(
        to="self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent"),
    )
    keywords = models.TextField(
        _("keywords"), blank=True, help_text=_("Words that suggest this category at intake, space-separated.")
    )
    sort = models.PositiveSmallIntegerField(_("sort"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["kind", "sort", "code"]

    def __str__(self) -> str:
        return self.name


class WorkOrder(models.Model):
    """工单: one customer contact that needs handling, from acceptance (受理) to close.

    ``state`` is one of the kind's workflow states; ``version`` is the optimistic lock every
    transition checks (two agents acting on one order: one wins, the other gets a conflict).
    For a report (举报) the contact fields stay empty: the reporter is in ``ReporterIdentity``,
    and ``customer``/``account`` name the reported party when known.
    """

    number = models.CharField(_("number"), max_length=20, unique=True)
    kind = models.CharField(_("kind"), max_length=30, choices=WorkOrderKind.choices)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    category = models.ForeignKey(
        to="workorders.Category", on_delete=models.PROTECT, related_name="orders", verbose_name=_("category")
    )
    grade = models.CharField(_("grade"), max_length=10, choices=Grade.choices, default=Grade.NORMAL)
    state = models.CharField(_("state"), max_length=30)
    is_open = models.BooleanField(_("open"), default=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    subject = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    customer = models.ForeignKey(
        to="customers.Customer",
        on_delete=models.PROTECT,
        db_index=False,
        null=True,
        blank=True,
        related_name="work_orders",
        verbose_name=_("customer"),
    )
    account = models.ForeignKey(
        to="customers.Account",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="work_orders",
        verbose_name=_("account"),
    )
    contact_name = models.CharField(_("contact name"), max_length=50, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=20, blank=True, db_index=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    external_ref = models.CharField(
        _("external reference"), max_length=40, blank=True, help_text=_("The 12345/12398 transfer number.")
    )
    personal_injury = models.BooleanField(_("personal injury (人身伤害)"), default=False)
    media_attention = models.BooleanField(_("media attention (媒体关注)"), default=False)
    team = models.ForeignKey(
        to="workorders.Team",
        on_delete=models.PROTECT,
        db_index=False,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("team"),
    )
    assignee = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        db_index=False,
        null=True,
        blank=True,
        related_name="assigned_work_orders",
        verbose_name=_("assignee"),
    )
    duplicate_of = models.ForeignKey(
        to="self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="repeats",
        verbose_name=_("repeat of (重复投诉)"),
    )
    kb_article = models.ForeignKey(
        to="workorders.Article",
        on_delete=models.PROTECT,
        db_index=False,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("knowledge article used"),
    )
    answered_first_contact = models.BooleanField(_("answered at first contact"), default=False)
    satisfaction = models.CharField(
        _("latest satisfaction"), max_length=30, choices=Satisfaction.choices, blank=True
    )
    reopen_count = models.PositiveSmallIntegerField(_("times reopened"), default=0)
    paused_since = models.DateTimeField(_("paused since"), null=True, blank=True)
    escalated_to = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        db_index=False,
        null=True,
        blank=True,
        related_name="escalated_work_orders",
        verbose_name=_("escalated to"),
    )
    escalated_at = models.DateTimeField(_("escalated"), null=True, blank=True)
    created_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        db_index=False,
        null=True,
        blank=True,
        related_name="created_work_orders",
        verbose_name=_("accepted by"),
    )
    created_at = models.DateTimeField(_("accepted"), db_index=True)
    updated_at = models.DateTimeField(_("updated"))
    replied_at = models.DateTimeField(_("replied"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        verbose_name = _("work order")
        verbose_name_plural = _("work orders")
        ordering = ["-created_at", "-id"]
        # Every index costs each intake: the references that a composite below starts with
        # (customer, team, assignee) or that nobody searches by (created_by, escalated_to,
        # kb_article) carry no index of their own.
        indexes = [
            models.Index(fields=["kind", "is_open", "-created_at"], name="wo_kind_open_created"),
            models.Index(fields=["team", "is_open"], name="wo_team_open"),
            models.Index(fields=["assignee", "is_open"], name="wo_assignee_open"),
            models.Index(fields=["customer", "category", "created_at"], name="wo_customer_category_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=WorkOrderKind.values), name="work_order_kind_valid"),
            models.CheckConstraint(condition=Q(channel__in=Channel.values), name="work_order_channel_valid"),
            models.CheckConstraint(condition=Q(grade__in=Grade.values), name="work_order_grade_valid"),
            models.CheckConstraint(
                condition=~Q(kind=WorkOrderKind.REPORT) | (Q(contact_name="") & Q(contact_phone="")),
                name="work_order_report_contact_apart",
            ),
            models.CheckConstraint(
                condition=Q(is_open=True, closed_at__isnull=True) | Q(is_open=False, closed_at__isnull=False),
                name="work_order_closed_at_matches_open",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="work_order_version_positive"),
        ]

    def __str__(self) -> str:
        return self.number


class ReporterIdentity(models.Model):
    """举报人信息: who filed a report and how to reach them, kept apart from the order.

    Readable only with ``workorders.view_reporteridentity``; every read is audited. Audit rows
    of this table carry masked values only.
    """

    order = models.OneToOneField(
        to="workorders.WorkOrder", on_delete=models.PROTECT, related_name="reporter", verbose_name=_("report")
    )
    name = models.CharField(_("reporter name"), max_length=50, blank=True)
    phone = models.CharField(_("reporter phone"), max_length=20, blank=True)
    id_number = models.CharField(_("reporter ID number"), max_length=18, blank=True)
    address = models.CharField(_("reporter address"), max_length=200, blank=True)
    customer = models.ForeignKey(
        to="customers.Customer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reporter's customer record"),
    )
    wants_reply = models.BooleanField(_("wants a reply"), default=True)
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        verbose_name = _("reporter identity (举报人)")
        verbose_name_plural = _("reporter identities")

    def __str__(self) -> str:
        return f"reporter of {self.order_id}"


class WorkOrderEvent(models.Model):
    """工单轨迹: one row of an order's timeline (transition, note, contact attempt, SLA event)
    with actor and time. ``data`` holds the transition's fields; never a reporter's identity."""

    order = models.ForeignKey(
        to="workorders.WorkOrder",
        on_delete=models.PROTECT,
        related_name="events",
        verbose_name=_("work order"),
    )
    at = models.DateTimeField(_("at"))
    actor = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_label = models.CharField(_("by"), max_length=150, blank=True)
    event_type = models.CharField(_("event"), max_length=20, choices=EventType.choices)
    transition = models.CharField(_("transition"), max_length=40, blank=True)
    from_state = models.CharField(_("from"), max_length=30, blank=True)
    to_state = models.CharField(_("to"), max_length=30, blank=True)
    note = models.TextField(_("note"), blank=True)
    data = models.JSONField(_("data"), default=dict, blank=True)

    class Meta:
        verbose_name = _("timeline event")
        verbose_name_plural = _("timeline events")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["order", "at"], name="wo_event_order_at")]

    def __str__(self) -> str:
        return f"{self.order_id} {self.event_type} {self.at:%Y-%m-%d %H:%M}"


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"workorders/{instance.order_id}/{filename}"


class Attachment(models.Model):
    """附件: a photo or document on an order, served only through a permission-checked view."""

    order = models.ForeignKey(
        to="workorders.WorkOrder",
        on_delete=models.PROTECT,
        related_name="attachments",
        verbose_name=_("work order"),
    )
    file = models.FileField(_("file"), upload_to=attachment_path, max_length=300)
    name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveIntegerField(_("size (bytes)"))
    uploaded_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded"))

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return self.name


class SlaClock(models.Model):
    """时限: one running deadline of an order's stage (contact within 24 h, reply within 4
    working days …) from a ``ServiceStandard``. Paused time is kept and pushes the deadline;
    a reopened order starts a new clock for the stage."""

    order = models.ForeignKey(
        to="workorders.WorkOrder",
        on_delete=models.PROTECT,
        related_name="clocks",
        verbose_name=_("work order"),
    )
    stage = models.CharField(_("stage"), max_length=20, choices=SlaStage.choices)
    standard = models.ForeignKey(
        to="quality.ServiceStandard",
        on_delete=models.PROTECT,
        related_name="clocks",
        verbose_name=_("standard"),
    )
    basis = models.CharField(_("counted in"), max_length=20, choices=SlaBasis.choices)
    amount = models.DecimalField(_("allowed"), max_digits=7, decimal_places=2)
    started_at = models.DateTimeField(_("started"))
    due_at = models.DateTimeField(_("due"))
    warn_at = models.DateTimeField(_("warn at"))
    paused_since = models.DateTimeField(_("paused since"), null=True, blank=True)
    paused_seconds = models.PositiveIntegerField(_("paused (seconds)"), default=0)
    stopped_at = models.DateTimeField(_("met at"), null=True, blank=True)
    warned_at = models.DateTimeField(_("warned"), null=True, blank=True)
    breached_at = models.DateTimeField(_("breached"), null=True, blank=True)

    class Meta:
        verbose_name = _("SLA clock")
        verbose_name_plural = _("SLA clocks")
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(
                fields=["warn_at"],
                condition=Q(stopped_at__isnull=True, warned_at__isnull=True, paused_since__isnull=True),
                name="sla_clock_to_warn",
            ),
            models.Index(
                fields=["due_at"],
                condition=Q(stopped_at__isnull=True, breached_at__isnull=True, paused_since__isnull=True),
                name="sla_clock_to_breach",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "stage"],
                condition=Q(stopped_at__isnull=True),
                name="sla_clock_one_running_per_stage",
            ),
            models.CheckConstraint(
                condition=Q(due_at__gte=models.F("started_at")), name="sla_clock_due_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}/{self.stage} due {self.due_at:%Y-%m-%d %H:%M}"


class FollowUpVisit(models.Model):
    """回访: the call back after the reply; ``unsatisfied`` (不满意) reopens the order."""

    order = models.ForeignKey(
        to="workorders.WorkOrder",
        on_delete=models.PROTECT,
        related_name="visits",
        verbose_name=_("work order"),
    )
    at = models.DateTimeField(_("at"))
    method = models.CharField(_("method"), max_length=10, choices=ContactMethod.choices)
    satisfaction = models.CharField(_("satisfaction"), max_length=30, choices=Satisfaction.choices)
    note = models.TextField(_("note"), blank=True)
    actor = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("visited by"),
    )

    class Meta:
        verbose_name = _("follow-up visit (回访)")
        verbose_name_plural = _("follow-up visits")
        ordering = ["at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(satisfaction__in=Satisfaction.values), name="visit_satisfaction_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.satisfaction}"


class RootCause(models.Model):
    """根本原因: the root-cause categories an improvement action is filed under (KPIs group by them)."""

    code = models.CharField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name (Chinese)"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100)
    sort = models.PositiveSmallIntegerField(_("sort"), default=0)

    class Meta:
        verbose_name = _("root cause")
        verbose_name_plural = _("root causes")
        ordering = ["sort", "code"]

    def __str__(self) -> str:
        return self.name


class ImprovementAction(models.Model):
    """整改措施: what the company changes after a complaint, under a root cause."""

    order = models.ForeignKey(
        to="workorders.WorkOrder",
        on_delete=models.PROTECT,
        related_name="improvements",
        verbose_name=_("work order"),
    )
    root_cause = models.ForeignKey(
        to="workorders.RootCause",
        on_delete=models.PROTECT,
        related_name="actions",
        verbose_name=_("root cause"),
    )
    action = models.TextField(_("action"))
    owner_team = models.ForeignKey(
        to="workorders.Team",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="improvements",
        verbose_name=_("owner team"),
    )
    due_date = models.DateField(_("due"), null=True, blank=True)
    created_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    created_at = models.DateTimeField(_("recorded"))

    class Meta:
        verbose_name = _("improvement action (整改)")
        verbose_name_plural = _("improvement actions")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.order_id} {self.root_cause_id}"


class StaffAlert(models.Model):
    """站内提醒: a message to one staff user (assignment, SLA warning, breach escalation,
    major complaint). Never carries a reporter's identity."""

    recipient = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="alerts",
        verbose_name=_("recipient"),
    )
    order = models.ForeignKey(
        to="workorders.WorkOrder",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="alerts",
        verbose_name=_("work order"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=AlertKind.choices)
    message = models.CharField(_("message"), max_length=300)
    created_at = models.DateTimeField(_("created"))
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="alert_recipient_unread")]

    def __str__(self) -> str:
        return self.message


class ArticleCategory(models.Model):
    """知识库分类 (电价电费, 交费方式, 办电指南, 停电政策 …)."""

    code = models.CharField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name (Chinese)"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100)
    sort = models.PositiveSmallIntegerField(_("sort"), default=0)

    class Meta:
        verbose_name = _("knowledge category")
        verbose_name_plural = _("knowledge categories")
        ordering = ["sort", "code"]

    def __str__(self) -> str:
        return self.name


class Article(models.Model):
    """知识库文章: what an agent reads out to answer an inquiry at first contact.

    ``search_text`` is the title, keywords and body segmented into words (jieba) and joined
    by spaces: PostgreSQL indexes it as a ``simple`` tsvector, SQLite in an FTS5 table.
    """

    code = models.CharField(_("code"), max_length=30, unique=True)
    category = models.ForeignKey(
        to="workorders.ArticleCategory",
        on_delete=models.PROTECT,
        related_name="articles",
        verbose_name=_("category"),
    )
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("article text"))
    keywords = models.CharField(_("keywords"), max_length=300, blank=True)
    search_text = models.TextField(_("search text"), blank=True, editable=False)
    is_published = models.BooleanField(_("published"), default=True)
    use_count = models.PositiveIntegerField(_("times used"), default=0)
    updated_at = models.DateTimeField(_("updated"))
    updated_by = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("updated by"),
    )

    class Meta:
        verbose_name = _("knowledge article")
        verbose_name_plural = _("knowledge articles")
        ordering = ["category__sort", "code"]

    def __str__(self) -> str:
        return self.title


class IntakeKey(models.Model):
    """幂等键: a channel's ``Idempotency-Key`` on an intake, so a create retried after a
    timeout returns the first order instead of filing a second (keys count for 24 hours).

    A key is stored under the user who sent it, except a key sent by the user a system actor
    files for (a report a customer files on the portal, accepted under ``PORTAL_ACTOR``): that
    row has no ``user`` and its ``key`` is an HMAC of the user and their key, so no row links
    the reporter to the report (为举报人保密) while their own resend still finds it."""

    user = models.ForeignKey(
        to=settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    key = models.CharField(_("key"), max_length=100)
    order = models.ForeignKey(
        to="workorders.WorkOrder", on_delete=models.CASCADE, related_name="+", verbose_name=_("work order")
    )
    created_at = models.DateTimeField(_("created"))

    class Meta:
        verbose_name = _("intake idempotency key")
        verbose_name_plural = _("intake idempotency keys")
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="intake_key_user_key_unique"),
            # The keys stored under no user (NULLs are distinct in the constraint above).
            models.UniqueConstraint(
                fields=["key"], condition=Q(user__isnull=True), name="intake_key_unowned_key_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.key
