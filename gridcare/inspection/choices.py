"""Choices of the inspection area (用电检查, 防窃电)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class RunStatus(models.TextChoices):
    """A scoring or line-loss run."""

    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class TaskSource(models.TextChoices):
    """Why an inspection task exists."""

    PERIODIC = "periodic", _("Periodic (周期检查)")
    RISK = "risk", _("Theft risk list (窃电风险)")
    LINE_LOSS = "line_loss", _("Line-loss area (台区线损)")
    REPORT = "report", _("Report or complaint (举报)")
    MANUAL = "manual", _("Ad hoc (临时)")


class PlanKind(models.TextChoices):
    PERIODIC = "periodic", _("Periodic plan (周期检查计划)")
    TARGETED = "targeted", _("Targeted plan (专项检查计划)")


class TaskStatus(models.TextChoices):
    """An inspection task: planned → assigned → on site → completed (or cancelled)."""

    PLANNED = "planned", _("Planned (待派工)")
    ASSIGNED = "assigned", _("Assigned (已派工)")
    ON_SITE = "on_site", _("On site (现场检查中)")
    COMPLETED = "completed", _("Completed (已完成)")
    CANCELLED = "cancelled", _("Cancelled (已取消)")


OPEN_TASK_STATUSES = (TaskStatus.PLANNED, TaskStatus.ASSIGNED, TaskStatus.ON_SITE)


class TaskResult(models.TextChoices):
    """What the inspection found, overall."""

    NORMAL = "normal", _("Normal (正常)")
    DEFECT = "defect", _("Defect to rectify (隐患整改)")
    VIOLATION = "violation", _("Violation (违约用电)")
    THEFT = "theft", _("Theft (窃电)")


class ChecklistSection(models.TextChoices):
    """The on-site checklist's parts."""

    SAFETY = "safety", _("Safety (安全用电)")
    VIOLATION = "violation", _("Violations (违约用电)")
    THEFT = "theft", _("Theft (窃电)")
    QUALITY = "quality", _("Power quality (电能质量)")


class ChecklistOutcome(models.TextChoices):
    UNCHECKED = "", _("Not checked")
    PASS = "pass", _("OK")
    FAIL = "fail", _("Problem")
    NOT_APPLICABLE = "na", _("Not applicable")


class FindingKind(models.TextChoices):
    THEFT = "theft", _("Theft (窃电)")
    VIOLATION = "violation", _("Violation (违约用电)")
    SAFETY = "safety", _("Safety hazard (安全隐患)")
    QUALITY = "quality", _("Power quality (电能质量)")
    OTHER = "other", _("Other")


class TheftMethod(models.TextChoices):
    """窃电行为 (1996 供电营业规则 第一百零一条, domain-rules §3)."""

    HOOKUP = "hookup", _("Illegal hook-up onto supply facilities (私拉乱接)")
    BYPASS = "bypass", _("Bypassing the meter (绕越计量装置)")
    SEAL = "seal", _("Forged or opened seals (伪造或开启封印)")
    DAMAGE = "damage", _("Damaging the meter (损坏计量装置)")
    INACCURATE = "inaccurate", _("Making the meter inaccurate or stop (使计量装置失准或失效)")
    OTHER = "other", _("Other means (其他方法)")


class ViolationKind(models.TextChoices):
    """违约用电 kinds (1996 供电营业规则 第一百条, domain-rules §3)."""

    TARIFF_MISUSE = "tariff_misuse", _("Higher-priced use on a cheaper tariff (擅自改变用电类别)")
    EXCESS_CAPACITY = "excess_capacity", _("Capacity beyond the contract (私增容)")
    SEALED_EQUIPMENT = "sealed_equipment", _("Using suspended or sealed equipment (启用封存设备)")
    METER_TAMPERING = "meter_tampering", _("Moving or operating company equipment (私自迁移更动计量装置)")
    SOURCE_CONNECTION = "source_connection", _("Unauthorised power source connection (擅自引入供出电源)")


class UserType(models.TextChoices):
    """For theft energy estimation: 电力用户 12 h a day, 照明用户 6 h (domain-rules §3)."""

    POWER = "power", _("Power user (动力用户)")
    LIGHTING = "lighting", _("Lighting user (照明用户)")


class CaseKind(models.TextChoices):
    THEFT = "theft", _("Theft case (窃电案件)")
    VIOLATION = "violation", _("Violation case (违约用电案件)")


class CaseStatus(models.TextChoices):
    """draft → submitted → approved → notified → settled; a rejection returns it to draft."""

    DRAFT = "draft", _("Draft (起草)")
    SUBMITTED = "submitted", _("Awaiting approval (待审批)")
    APPROVED = "approved", _("Approved (已审批)")
    NOTIFIED = "notified", _("Notice served (已送达通知)")
    SETTLED = "settled", _("Posted to billing (已转电费)")
    WITHDRAWN = "withdrawn", _("Withdrawn (撤销)")


class PenaltyKey(models.TextChoices):
    """The configurable numbers of theft and violation charges (effective-dated rows of
    ``PenaltyRule``; domain-rules §3). Multiples are dimensionless, amounts in yuan."""

    THEFT_MULTIPLE = "theft_multiple", _("Theft: 违约使用电费 multiple of the back charge")
    THEFT_UNKNOWN_DAYS = "theft_unknown_days", _("Theft: days assumed when the period is unknown")
    THEFT_HOURS_POWER = "theft_hours_power", _("Theft: hours a day, power users")
    THEFT_HOURS_LIGHTING = "theft_hours_lighting", _("Theft: hours a day, lighting users")
    TARIFF_MISUSE_MULTIPLE = "tariff_misuse_multiple", _("Tariff misuse: multiple of the price difference")
    TARIFF_MISUSE_UNKNOWN_MONTHS = (
        "tariff_misuse_unknown_months",
        _("Tariff misuse: months assumed when the period is unknown"),
    )
    CAPACITY_TWO_PART_MULTIPLE = (
        "capacity_two_part_multiple",
        _("Excess capacity, two-part users: multiple of the basic charge"),
    )
    CAPACITY_OTHER_PER_KW = "capacity_other_per_kw", _("Excess capacity, other users: yuan per kW")
    SEALED_TWO_PART_MULTIPLE = (
        "sealed_two_part_multiple",
        _("Sealed equipment, two-part users: multiple of the basic charge"),
    )
    SEALED_OTHER_PER_KW = "sealed_other_per_kw", _("Sealed equipment, other users: yuan per kW")
    TAMPERING_RESIDENTIAL = "tampering_residential", _("Meter tampering, residential: yuan per occurrence")
    TAMPERING_OTHER = "tampering_other", _("Meter tampering, other users: yuan per occurrence")
    SOURCE_PER_KW = "source_per_kw", _("Unauthorised source: yuan per kW")
