"""Choices of the work-order backbone (工单). A kind's *states* are not here: they are data in
``workflows/*.toml`` (one engine runs them all)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class WorkOrderKind(models.TextChoices):
    """工单类型. Repair (报修) and connection (业扩) kinds arrive with their own issues."""

    COMPLAINT = "complaint", _("Complaint (投诉)")
    REPORT = "report", _("Report (举报)")
    OPINION = "opinion", _("Opinion (意见)")
    SUGGESTION = "suggestion", _("Suggestion (建议)")
    INQUIRY = "inquiry", _("Inquiry (咨询)")
    SERVICE_REQUEST = "service_request", _("Service request (服务申请)")


class Channel(models.TextChoices):
    """受理渠道: where the order came in."""

    COUNTER = "counter", _("Business hall counter (营业厅)")
    HOTLINE = "hotline", _("95598 hotline (95598热线)")
    WEB = "web", _("Web portal (网站)")
    APP = "app", _("App (网上国网)")
    TERMINAL = "terminal", _("Self-service terminal (自助终端)")
    GOV_12345 = "gov_12345", _("12345 government hotline transfer (12345转办)")
    REGULATOR_12398 = "regulator_12398", _("12398 energy regulator transfer (12398转办)")
    MEDIA = "media", _("Media (媒体)")


class Grade(models.TextChoices):
    """工单等级 (current 国网 material: 重大 / 较大 / 一般; domain-rules §2 notes the older
    四级 scheme is unconfirmed)."""

    NORMAL = "normal", _("Normal (一般)")
    SERIOUS = "serious", _("Serious (较大)")
    MAJOR = "major", _("Major (重大)")


class Satisfaction(models.TextChoices):
    """回访满意度."""

    SATISFIED = "satisfied", _("Satisfied (满意)")
    BASICALLY_SATISFIED = "basically_satisfied", _("Basically satisfied (基本满意)")
    UNSATISFIED = "unsatisfied", _("Unsatisfied (不满意)")


class ContactOutcome(models.TextChoices):
    """联系客户的结果: only ``reached`` counts as the contact the standard asks for."""

    REACHED = "reached", _("Reached (已联系上)")
    NO_ANSWER = "no_answer", _("No answer (无人接听)")
    BUSY = "busy", _("Busy (占线)")
    WRONG_NUMBER = "wrong_number", _("Wrong number (号码错误)")
    REFUSED = "refused", _("Refused to talk (拒绝沟通)")


class ContactMethod(models.TextChoices):
    PHONE = "phone", _("Phone (电话)")
    SMS = "sms", _("SMS (短信)")
    VISIT = "visit", _("Visit (上门)")


class EventType(models.TextChoices):
    """What a timeline row records."""

    CREATED = "created", _("Accepted (受理)")
    TRANSITION = "transition", _("Transition")
    NOTE = "note", _("Note (备注)")
    CONTACT = "contact", _("Contact attempt (联系客户)")
    ATTACHMENT = "attachment", _("Attachment (附件)")
    DUPLICATE = "duplicate", _("Linked as repeat (重复工单)")
    KB_LINK = "kb_link", _("Knowledge article used (知识库)")
    SLA_WARNING = "sla_warning", _("SLA warning (预警)")
    SLA_BREACH = "sla_breach", _("SLA breach (超时)")
    ESCALATION = "escalation", _("Escalated (升级)")
    ALERT = "alert", _("Alert sent (告警)")


class SlaStage(models.TextChoices):
    """The stages a clock can run for; which ones a kind uses is workflow data."""

    REVIEW = "review", _("Supervisor review (审核)")
    CONTACT = "contact", _("Contact the customer (联系客户)")
    ONSITE = "onsite", _("On site (到达现场)")
    RESTORE = "restore", _("Restore supply (复电)")
    REPLY = "reply", _("Reply (答复)")
    FOLLOW_UP = "follow_up", _("Follow-up visit (回访)")


class SlaBasis(models.TextChoices):
    WORKING_DAYS = "working_days", _("Working days (工作日)")
    HOURS = "hours", _("Hours, wall clock (小时)")


class AlertKind(models.TextChoices):
    ASSIGNED = "assigned", _("Assigned to you")
    SLA_WARNING = "sla_warning", _("Near deadline (预警)")
    SLA_BREACH = "sla_breach", _("Deadline missed (超时)")
    ESCALATION = "escalation", _("Escalated to you (升级)")
    MAJOR = "major", _("Major complaint (重大投诉)")
    REOPENED = "reopened", _("Reopened (不满意重办)")
