"""Choices of billing and collection (抄表收费)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class TariffKind(models.TextChoices):
    """How a tariff rates consumption (the engine dispatches on it)."""

    RES_TIERED = "res_tiered", _("Residential tiered (居民阶梯)")
    RES_TOU = "res_tou", _("Residential tiered with peak/valley (居民阶梯峰谷)")
    GIC_TOU = "gic_tou", _("General I&C single-part TOU (一般工商业单一制分时)")
    TWO_PART = "two_part", _("Two-part (两部制)")


class TierBasis(models.TextChoices):
    ANNUAL = "annual", _("Annual (年阶梯)")
    MONTHLY = "monthly", _("Monthly (月阶梯)")
    NONE = "none", _("No tiers")


class BasicChargeBy(models.TextChoices):
    """两部制 basic charge basis, chosen per contract."""

    CAPACITY = "capacity", _("Transformer capacity (按容量)")
    DEMAND = "demand", _("Maximum demand (按需量)")


class PfStandard(models.TextChoices):
    """功率因数考核标准."""

    PF90 = "0.90", _("0.90")
    PF85 = "0.85", _("0.85")
    PF80 = "0.80", _("0.80")


class RunStatus(models.TextChoices):
    """A billing run: rated → review → issued (or failed, resumable)."""

    PENDING = "pending", _("Pending (待运行)")
    RUNNING = "running", _("Running (计算中)")
    REVIEW = "review", _("In review (审核中)")
    ISSUED = "issued", _("Issued (已发行)")
    FAILED = "failed", _("Failed (失败)")


class PartitionStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DONE = "done", _("Done")


class BillStatus(models.TextChoices):
    """A bill: draft (rated, reviewable) → issued (immutable) ; a draft may be voided."""

    DRAFT = "draft", _("Draft (待审核)")
    ISSUED = "issued", _("Issued (已发行)")
    VOID = "void", _("Void (作废)")


class BillLineKind(models.TextChoices):
    ENERGY = "energy", _("Energy charge (电度电费)")
    BASIC = "basic", _("Basic charge (基本电费)")
    POWER_FACTOR = "pf", _("Power-factor adjustment (力调电费)")
    PASS_THROUGH = "pass", _("Unfloated parts (不参与浮动部分)")
    FUND = "fund", _("Government funds and surcharges (政府性基金及附加)")
    INFO = "info", _("Included in the price above (其中, 不另收)")


class ReviewRule(models.TextChoices):
    """Pre-issue review rules (发行前审核)."""

    HIGH = "high", _("Above k × the account's average (电费突增)")
    NEGATIVE = "negative", _("Negative amount (负电费)")
    ZERO = "zero", _("Zero on an active account (零电量)")


class ReviewStatus(models.TextChoices):
    OPEN = "open", _("Open (待审核)")
    APPROVED = "approved", _("Approved (审核通过)")
    SENT_BACK = "sent_back", _("Sent back (退回)")


class HoldStatus(models.TextChoices):
    HELD = "held", _("Held (暂缓计费)")
    RELEASED = "released", _("Released (已放行)")


class AdjustmentKind(models.TextChoices):
    """退补 document kinds."""

    REFUND = "refund", _("Refund (退费)")
    BACKBILL = "backbill", _("Back-billing (补收)")


class DocumentStatus(models.TextChoices):
    """Approval of correction and waiver documents."""

    PENDING = "pending", _("Pending approval (待审批)")
    APPROVED = "approved", _("Approved (已审批)")
    REJECTED = "rejected", _("Rejected (已驳回)")


class RefundRequestStatus(models.TextChoices):
    """A balance refund request (销户退费申请): pending until another person approves it (the
    money is paid back) or rejects it, or until its requester withdraws it (撤回)."""

    PENDING = "pending", _("Pending approval (待审批)")
    APPROVED = "approved", _("Approved (已审批)")
    REJECTED = "rejected", _("Rejected (已驳回)")
    WITHDRAWN = "withdrawn", _("Withdrawn (已撤回)")


class PaymentChannel(models.TextChoices):
    COUNTER_CASH = "counter_cash", _("Counter, cash (柜台现金)")
    COUNTER_CARD = "counter_card", _("Counter, bank card (柜台刷卡)")
    BANK_WITHHOLDING = "bank_withholding", _("Bank withholding (银行代扣)")
    WECHAT = "wechat", _("WeChat Pay (微信)")
    ALIPAY = "alipay", _("Alipay (支付宝)")
    WSGW = "wsgw", _("网上国网 (State Grid app)")
    # Money paid back (销户退费): only on a refund row (``Payment.kind`` REFUND).
    REFUND_BANK = "refund_bank", _("Refund by bank transfer (退费·银行转账)")
    REFUND_CASH = "refund_cash", _("Refund in cash (退费·现金)")


ONLINE_CHANNELS = (PaymentChannel.WECHAT, PaymentChannel.ALIPAY, PaymentChannel.WSGW)
REFUND_CHANNELS = (PaymentChannel.REFUND_BANK, PaymentChannel.REFUND_CASH)


class PaymentKind(models.TextChoices):
    """Money in (实收) or a closed account's balance paid back (销户退费)."""

    PAYMENT = "payment", _("Payment (缴费)")
    REFUND = "refund", _("Balance refund (退费)")


class PaymentStatus(models.TextChoices):
    POSTED = "posted", _("Posted (已入账)")
    REVERSED = "reversed", _("Reversed (已冲正)")


class WithholdingStatus(models.TextChoices):
    """A bank withholding batch: file out → result file in → posted."""

    EXPORTED = "exported", _("Sent to the bank (已送银行)")
    POSTED = "posted", _("Result posted (已回盘)")


class RemoteOrderKind(models.TextChoices):
    DISCONNECT = "disconnect", _("Remote disconnect (远程停电)")
    RECONNECT = "reconnect", _("Remote reconnect (远程复电)")


class RemoteOrderStatus(models.TextChoices):
    PENDING = "pending", _("Pending (待执行)")
    SENT = "sent", _("Sent to the meter (已下发)")
    DONE = "done", _("Done (已执行)")
    NEEDS_PERSON = "needs_person", _("For a person to decide (转人工)")
    CANCELLED = "cancelled", _("Cancelled (已取消)")


class PrepaidNoticeLevel(models.TextChoices):
    LOW = "low", _("Balance low (余额不足)")
    ZERO = "zero", _("Balance below zero (欠费)")
    DISCONNECT_NOTICE = "disconnect_notice", _("Disconnection notice (停电通知)")
