"""Choices of metering: meter types, registers, lifecycle, reading sources and VEE rules."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class MeterType(models.TextChoices):
    SINGLE_PHASE = "single", _("Single-phase (单相)")
    THREE_PHASE = "three", _("Three-phase (三相)")


class Register(models.TextChoices):
    """示数类型: the registers a meter can carry. TOU registers sum to the total."""

    TOTAL = "total", _("Total (总)")
    SHARP = "sharp", _("Sharp (尖)")
    PEAK = "peak", _("Peak (峰)")
    FLAT = "flat", _("Flat (平)")
    VALLEY = "valley", _("Valley (谷)")
    REACTIVE = "reactive", _("Reactive (无功)")


TOU_REGISTERS = (Register.SHARP, Register.PEAK, Register.FLAT, Register.VALLEY)


class MeterStatus(models.TextChoices):
    """Asset lifecycle: in stock → installed → removed → scrapped (removed may be reinstalled)."""

    IN_STOCK = "in_stock", _("In stock (库存)")
    INSTALLED = "installed", _("Installed (运行)")
    REMOVED = "removed", _("Removed (拆回)")
    SCRAPPED = "scrapped", _("Scrapped (报废)")


class AccuracyClass(models.TextChoices):
    """准确度等级; the allowed error is in ``ACCURACY_TOLERANCE_PCT`` (configuration)."""

    C02S = "0.2S", "0.2S"
    C05S = "0.5S", "0.5S"
    C1 = "1", _("Class 1")
    C2 = "2", _("Class 2")


class ReadingSource(models.TextChoices):
    AMI = "ami", _("AMI daily frozen (采集)")
    MANUAL = "manual", _("Manual read (人工抄表)")
    HANDHELD = "handheld", _("Handheld terminal (抄表机)")
    ESTIMATED = "estimated", _("Estimated (估算)")
    EDITED = "edited", _("Edited (人工修改)")
    EXCHANGE = "exchange", _("Meter exchange (换表)")


class ReadingQuality(models.TextChoices):
    VALID = "valid", _("Valid")
    SUSPECT = "suspect", _("Suspect (存疑)")
    ESTIMATED = "estimated", _("Estimated (估算)")
    EDITED = "edited", _("Edited (修改)")


class VeeRule(models.TextChoices):
    """The validation rules whose failures become reading exceptions (抄表异常)."""

    DECREASING = "decreasing", _("Decreasing reading (示数倒走)")
    TOU_MISMATCH = "tou_mismatch", _("TOU registers do not sum to total (分时不平)")
    SPIKE = "spike", _("Consumption spike (电量突增)")
    ZERO_RUN = "zero_run", _("Zero consumption run (零电量 / 停走)")
    MISSING = "missing", _("Missing days (缺数)")


class ExceptionStatus(models.TextChoices):
    OPEN = "open", _("Open (待处理)")
    ACCEPTED = "accepted", _("Accepted as is (确认)")
    ESTIMATED = "estimated", _("Estimated (已估算)")
    REREAD = "reread", _("Sent for re-read (派发补抄)")
    RELEASED = "released", _("Released for billing (放行)")


OPEN_EXCEPTION_STATUSES = (ExceptionStatus.OPEN, ExceptionStatus.REREAD)


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class VerificationStatus(models.TextChoices):
    OPEN = "open", _("Awaiting test (待校验)")
    TESTED = "tested", _("Tested (已校验)")
    CLOSED = "closed", _("Closed (已办结)")


class AdjustmentDirection(models.TextChoices):
    REFUND = "refund", _("Refund (退费) — meter ran fast")
    BACK_BILL = "back_bill", _("Back-bill (补收) — meter ran slow")


class AdjustmentStatus(models.TextChoices):
    OPEN = "open", _("Awaiting billing (待结算)")
    SETTLED = "settled", _("Settled (已结算)")
