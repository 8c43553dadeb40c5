"""Choices of the customer archive and the grid topology."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class AreaType(models.TextChoices):
    """供电区域类型: repair arrival and restoration promises depend on it (domain-rules §1)."""

    URBAN = "urban", _("Urban (城区)")
    RURAL = "rural", _("Rural (农村)")
    REMOTE = "remote", _("Remote (特殊边远)")


class CustomerKind(models.TextChoices):
    PERSON = "person", _("Person (个人)")
    ORGANISATION = "organisation", _("Organisation (单位)")


class CustomerClass(models.TextChoices):
    """用电类别 of an account; billing binds a tariff within the class."""

    URBAN_RESIDENTIAL = "urban_res", _("Urban residential (城镇居民)")
    RURAL_RESIDENTIAL = "rural_res", _("Rural residential (乡村居民)")
    SHARED_RESIDENTIAL = "shared_res", _("Shared-meter residential (合表居民)")
    GENERAL_IC = "general_ic", _("General industrial & commercial (一般工商业)")
    LARGE_INDUSTRIAL = "large_ind", _("Large industrial (大工业)")
    AGRICULTURAL = "agri", _("Agricultural production (农业生产)")
    TEMPORARY = "temporary", _("Temporary supply (临时用电)")


RESIDENTIAL_CLASSES = (
    CustomerClass.URBAN_RESIDENTIAL,
    CustomerClass.RURAL_RESIDENTIAL,
    CustomerClass.SHARED_RESIDENTIAL,
)


class VoltageLevel(models.TextChoices):
    """供电电压等级."""

    V220 = "220v", _("220 V")
    V380 = "380v", _("380 V")
    KV10 = "10kv", _("10 kV")
    KV35 = "35kv", _("35 kV")
    KV110 = "110kv", _("110 kV")


LOW_VOLTAGE = (VoltageLevel.V220, VoltageLevel.V380)


class AccountStatus(models.TextChoices):
    ACTIVE = "active", _("Active (正常)")
    SUSPENDED = "suspended", _("Suspended (暂停)")
    CLOSED = "closed", _("Closed (销户)")


class ImportanceLevel(models.TextChoices):
    """重要电力用户 level (GB/T 29328): outage notices and orderly-use plans depend on it."""

    NONE = "", _("Not an important user")
    SPECIAL = "special", _("Special grade (特级)")
    FIRST = "first", _("First grade (一级)")
    SECOND = "second", _("Second grade (二级)")
    TEMPORARY = "temporary", _("Temporary (临时性重要)")


class ContractKind(models.TextChoices):
    LOW_VOLTAGE = "lv", _("Low-voltage (低压供用电合同)")
    HIGH_VOLTAGE = "hv", _("High-voltage (高压供用电合同)")
    TEMPORARY = "temporary", _("Temporary supply (临时供用电合同)")
    RESIDENTIAL = "residential", _("Residential (居民供用电合同)")


class ContractStatus(models.TextChoices):
    DRAFT = "draft", _("Draft (草拟)")
    ACTIVE = "active", _("In force (生效)")
    EXPIRED = "expired", _("Expired (到期)")
    TERMINATED = "terminated", _("Terminated (终止)")


class BasicChargeBasis(models.TextChoices):
    """两部制 basic charge basis, chosen per contract (empty: not a two-part tariff)."""

    NONE = "", _("Not two-part")
    CAPACITY = "capacity", _("Transformer capacity (按容量)")
    DEMAND = "demand", _("Maximum demand (按需量)")
