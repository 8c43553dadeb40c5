"""The on-site inspection checklist (现场检查单) as data: four sections, each item a stable code
and an English label with the Chinese term in parentheses.

Pure: no Django import. Labels are marked with the no-op ``_`` below so ``makemessages``
extracts them; the console translates them when it renders (``gettext(label)``).

Which items apply depends on the account (``items_for``):

- power factor (功率因数) only for non-residential accounts — the 功率因数调整电费办法 applies
  to industrial and commercial users, not to households;
- harmonics (谐波) only for accounts supplied at 10 kV or above, or of the large-industrial
  class (the users whose loads can inject harmonics into the grid);
- the standby-source interlock (自备电源闭锁) only for non-residential or important users (a
  household has no contracted standby source).

Every other item applies to every account. The section codes are those of
``choices.ChecklistSection``; item codes never change once used (tasks store them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SAFETY = "safety"
VIOLATION = "violation"
THEFT = "theft"
QUALITY = "quality"
SECTIONS = (SAFETY, VIOLATION, THEFT, QUALITY)

RESIDENTIAL_CLASSES = frozenset({"urban_res", "rural_res", "shared_res"})
HIGH_VOLTAGE_LEVELS = frozenset({"10kv", "35kv", "110kv"})
LARGE_INDUSTRIAL = "large_ind"


def _(text: str) -> str:
    """Marks a label for translation (``makemessages``); the console translates at render."""
    return text


@dataclass(frozen=True)
class Item:
    section: str
    code: str
    label: str
    # who it applies to: "all", "non_residential", "power_quality" or "standby"
    applies: str = "all"


CHECKLIST: tuple[Item, ...] = (
    # 安全用电
    Item(SAFETY, "safety_grounding", _("Equipment and enclosures grounded (接地)")),
    Item(SAFETY, "safety_rcd", _("Residual-current protection installed and working (漏电保护)")),
    Item(SAFETY, "safety_distribution", _("Distribution facilities in good repair (配电设施)")),
    Item(
        SAFETY,
        "safety_standby_interlock",
        _("Standby power source interlocked against back-feed (自备电源闭锁)"),
        "standby",
    ),
    Item(SAFETY, "safety_wiring", _("No overloaded or damaged wiring (线路隐患)")),
    # 违约用电
    Item(VIOLATION, "violation_class", _("Use matches the contracted customer class (用电类别与合同一致)")),
    Item(VIOLATION, "violation_capacity", _("Connected capacity within the contract (用电容量未超合同)")),
    Item(VIOLATION, "violation_sealed", _("Sealed or suspended equipment not in use (封存设备未启用)")),
    Item(VIOLATION, "violation_meter_moved", _("Metering not moved or altered (未私自迁移计量装置)")),
    Item(
        VIOLATION,
        "violation_source",
        _("No power source brought in or supplied onward without consent (未擅自引入/供出电源)"),
    ),
    # 窃电
    Item(THEFT, "theft_seals", _("Meter and box seals intact (封印完好)")),
    Item(THEFT, "theft_bypass", _("No bypass of the metering (无绕越计量)")),
    Item(THEFT, "theft_wiring", _("Metering wiring correct (计量接线正确)")),
    Item(THEFT, "theft_meter", _("Meter undamaged and accurate (表计无损坏/失准)")),
    Item(THEFT, "theft_hookup", _("No illegal hook-up (无私拉乱接)")),
    # 电能质量
    Item(QUALITY, "quality_voltage", _("Supply voltage within limits (电压偏差)")),
    Item(QUALITY, "quality_power_factor", _("Power factor at the standard (功率因数)"), "non_residential"),
    Item(QUALITY, "quality_harmonics", _("Harmonics within limits (谐波)"), "power_quality"),
)

BY_CODE: dict[str, Item] = {item.code: item for item in CHECKLIST}


@dataclass(frozen=True)
class Entry:
    """One line of a task's checklist: the item and its place on the form."""

    section: str
    code: str
    label: str
    position: int


def _applies(
    item: Item, *, residential: bool, high_voltage: bool, large_industrial: bool, important: bool
) -> bool:
    if item.applies == "non_residential":
        return not residential
    if item.applies == "power_quality":
        return high_voltage or large_industrial
    if item.applies == "standby":
        return not residential or important
    return True


def items_for(*, customer_class: str, voltage_level: str, importance: str = "") -> list[Entry]:
    """The checklist of one account, in form order (sections in ``SECTIONS`` order, positions
    from 1)."""
    residential = customer_class in RESIDENTIAL_CLASSES
    high_voltage = voltage_level in HIGH_VOLTAGE_LEVELS
    large_industrial = customer_class == LARGE_INDUSTRIAL
    chosen = [
        item
        for item in CHECKLIST
        if _applies(
            item,
            residential=residential,
            high_voltage=high_voltage,
            large_industrial=large_industrial,
            important=bool(importance),
        )
    ]
    chosen.sort(key=lambda item: SECTIONS.index(item.section))  # stable: keeps item order
    return [Entry(i.section, i.code, i.label, n) for n, i in enumerate(chosen, start=1)]


def label_of(code: str) -> str:
    """The English label of an item code (the code itself for an unknown one)."""
    item = BY_CODE.get(code)
    return item.label if item is not None else code


def section_of(code: str) -> str:
    item = BY_CODE.get(code)
    return item.section if item is not None else ""


def unanswered(outcomes: Iterable[tuple[str, str]]) -> list[str]:
    """The codes of ``(code, outcome)`` pairs without an outcome, in the order given."""
    return [code for code, outcome in outcomes if not outcome]
