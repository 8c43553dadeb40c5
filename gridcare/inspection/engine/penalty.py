"""Theft (窃电) and violation (违约用电) charges of the 供电营业规则 (pure: no Django).

The numbers come in as the ``PenaltyRule`` rows in force on the case's day, a mapping
``key → Rule`` (or ``key → (value, is_cap)``), keys of ``choices.PenaltyKey``; the facts of
the case come in as ``inputs`` (decimal strings, Decimals or ints). The answer is a
:class:`Charges`: energy (kWh, 0.001), back charge (追补电费), penalty (违约使用电费) and total
(yuan, 0.01, ROUND_HALF_UP) and a ``basis`` dict with every parameter used (value, whether it
is a ceiling, effective date, source) and the formula in words with the numbers put in.

Theft (1996 第一百零二/一百零三条, domain-rules §3)::

    stolen energy W = capacity (kW; kVA counted as kW) × hours a day × days
        known period: the actual days and hours (or the measured energy ``measured_kwh``)
        unknown period: theft_unknown_days (180) × theft_hours_power (12) for power users,
                        theft_hours_lighting (6) for lighting users
    back charge      = W × price (the account's catalogue price, yuan/kWh)
    penalty          = multiple × back charge; multiple = theft_multiple (1996: exactly 3×;
                       2024 ``is_cap``: the contract's ``agreed_multiple`` ≤ the cap, default the cap)

Violations (1996 第一百条)::

    tariff_misuse      back = price difference × energy of the actual period
                       (unknown: monthly kWh × tariff_misuse_unknown_months (3));
                       penalty = tariff_misuse_multiple (2) × back
    excess_capacity    两部制: back = basic price × added kVA × months; penalty = 3 × back
                       other users: penalty = capacity_other_per_kw (50) × added kW
    sealed_equipment   两部制: back = basic price × capacity × months; penalty = 2 × back
                       other users: penalty = sealed_other_per_kw (30) × kW × occurrences
    meter_tampering    penalty = tampering_residential (500) or tampering_other (5,000) × occurrences
    source_connection  penalty = source_per_kw (500) × kW of the source

A rule with ``is_cap`` (the 2024 wording "不高于…") is a ceiling: the contract's agreed
value (``agreed_multiple`` for a multiple, ``agreed_amount`` for a per-kW or per-occurrence
amount) may be lower, never higher; without one the ceiling applies. A rule without
``is_cap`` is exact: an agreed value that differs is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
KWH = Decimal("0.001")
ZERO = Decimal("0")
MAX_INPUT = Decimal("1000000000")  # 10⁹ of any unit: far above a real case
MAX_AMOUNT = Decimal("999999999999.99")  # the Case amount columns (14 digits, 2 places)

THEFT = "theft"
VIOLATION = "violation"
POWER = "power"
LIGHTING = "lighting"
VIOLATION_KINDS = (
    "tariff_misuse",
    "excess_capacity",
    "sealed_equipment",
    "meter_tampering",
    "source_connection",
)

ARTICLE_THEFT_1996 = "1996 供电营业规则 第一百零二条、第一百零三条"
ARTICLE_VIOLATION_1996 = "1996 供电营业规则 第一百条"
# The 2024 revision renumbered the articles (110 instead of 107); its theft and violation
# article numbers were not read (domain-rules §3), so the notice cites the rule and the 1996 ones.
REVISION_2024 = dt.date(2024, 6, 1)
ARTICLE_THEFT_2024 = (
    "2024 供电营业规则 (国家发展改革委令2024年第14号) 窃电条款 (1996 年版第一百零二条、第一百零三条)"
)
ARTICLE_VIOLATION_2024 = "2024 供电营业规则 (国家发展改革委令2024年第14号) 违约用电条款 (1996 年版第一百条)"


class PenaltyInputError(ValueError):
    """An input of the case (``field``) or a rule is missing or not allowed."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Rule:
    """One ``PenaltyRule`` row as the engine sees it."""

    value: Decimal
    is_cap: bool = False
    effective_from: dt.date | None = None
    source: str = ""


@dataclass(frozen=True)
class Charges:
    """What the case owes; ``basis`` says how (JSON-safe)."""

    energy_kwh: Decimal
    back_charge: Decimal
    penalty: Decimal
    total: Decimal
    basis: dict[str, Any] = field(default_factory=dict)


# --- parsing ---------------------------------------------------------------------------------


def _rule(rules: Mapping[str, Any], key: str) -> Rule:
    if key not in rules:
        raise PenaltyInputError(f"no penalty rule {key!r} in force", field="rules")
    raw = rules[key]
    if isinstance(raw, Rule):
        return raw
    value, is_cap = raw
    return Rule(value=Decimal(str(value)), is_cap=bool(is_cap))


def decimal_input(inputs: Mapping[str, Any], key: str, *, required: bool = True) -> Decimal | None:
    """``inputs[key]`` as a finite Decimal in [0, 10⁹]; None when absent and not required."""
    value = inputs.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise PenaltyInputError(f"{key} is required", field=key)
        return None
    if isinstance(value, bool):
        raise PenaltyInputError(f"{key} must be a number", field=key)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise PenaltyInputError(f"{key} must be a number", field=key) from exc
    if not number.is_finite():
        raise PenaltyInputError(f"{key} must be a number", field=key)
    if number < 0:
        raise PenaltyInputError(f"{key} must not be negative", field=key)
    if number > MAX_INPUT:
        raise PenaltyInputError(f"{key} is too large", field=key)
    return number


def _need(inputs: Mapping[str, Any], key: str) -> Decimal:
    value = decimal_input(inputs, key)
    assert value is not None  # noqa: S101 - required=True never gives None
    return value


def _count(inputs: Mapping[str, Any], key: str) -> Decimal:
    """A count (occurrences): a whole number ≥ 1, default 1."""
    value = decimal_input(inputs, key, required=False)
    if value is None:
        return Decimal(1)
    if value != value.to_integral_value() or value < 1:
        raise PenaltyInputError(f"{key} must be a whole number of at least 1", field=key)
    return value


def flag_input(inputs: Mapping[str, Any], key: str, *, default: bool = False) -> bool:
    """``inputs[key]`` as a boolean (true/false, 1/0, yes/no, on/off)."""
    value = inputs.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise PenaltyInputError(f"{key} must be true or false", field=key)


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _energy(value: Decimal) -> Decimal:
    return value.quantize(KWH, rounding=ROUND_HALF_UP)


def _fmt(value: Decimal) -> str:
    """A number as written in a formula: no exponent, no trailing zeros past the point."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


# --- the basis ---------------------------------------------------------------------------------


class _Basis:
    """Collects the parameters used and the formula lines."""

    def __init__(self, kind: str, violation_kind: str = "") -> None:
        self.kind = kind
        self.violation_kind = violation_kind
        self.parameters: dict[str, dict[str, Any]] = {}
        self.steps: list[dict[str, str]] = []
        self.article = ARTICLE_THEFT_1996 if kind == THEFT else ARTICLE_VIOLATION_1996

    def use(self, key: str, rule: Rule, *, applied: Decimal | None = None) -> None:
        self.parameters[key] = {
            "value": _fmt(rule.value),
            "is_cap": rule.is_cap,
            "effective_from": rule.effective_from.isoformat() if rule.effective_from else None,
            "source": rule.source,
            "applied": _fmt(applied if applied is not None else rule.value),
        }

    def step(self, name: str, zh: str, en: str, value: Decimal, unit: str) -> None:
        self.steps.append({"name": name, "zh": zh, "en": en, "value": f"{value:f}", "unit": unit})

    def done(self, charges: tuple[Decimal, Decimal, Decimal, Decimal], inputs: Mapping[str, Any]) -> Charges:
        energy, back, penalty, total = charges
        if total > MAX_AMOUNT:
            raise PenaltyInputError("the amounts are too large for a case", field=None)
        if any(
            p["effective_from"] is not None and p["effective_from"] >= REVISION_2024.isoformat()
            for p in self.parameters.values()
        ):
            self.article = ARTICLE_THEFT_2024 if self.kind == THEFT else ARTICLE_VIOLATION_2024
        basis = {
            "kind": self.kind,
            "violation_kind": self.violation_kind,
            "article": self.article,
            "parameters": self.parameters,
            "steps": self.steps,
            "inputs": {k: (str(v) if not isinstance(v, bool) else v) for k, v in sorted(inputs.items())},
            "formula_zh": "; ".join(s["zh"] for s in self.steps),
            "formula_en": "; ".join(s["en"] for s in self.steps),
        }
        return Charges(energy_kwh=energy, back_charge=back, penalty=penalty, total=total, basis=basis)


def _applied(rule: Rule, inputs: Mapping[str, Any], agreed_key: str) -> Decimal:
    """The value the case uses: the rule's, or under a ceiling the contract's agreed value."""
    agreed = decimal_input(inputs, agreed_key, required=False)
    if agreed is None:
        return rule.value
    if rule.is_cap:
        if agreed > rule.value:
            raise PenaltyInputError(
                f"{agreed_key} {_fmt(agreed)} is above the ceiling {_fmt(rule.value)} (不高于)",
                field=agreed_key,
            )
        return agreed
    if agreed != rule.value:
        raise PenaltyInputError(
            f"the rule in force fixes this value at {_fmt(rule.value)}; {agreed_key} "
            f"{_fmt(agreed)} is not allowed",
            field=agreed_key,
        )
    return agreed


# --- theft -----------------------------------------------------------------------------------------


def theft_charges(rules: Mapping[str, Any], inputs: Mapping[str, Any]) -> Charges:
    """窃电: stolen energy, back charge at ``price``, penalty = multiple × back charge."""
    basis = _Basis(THEFT)
    user_type = str(inputs.get("user_type") or "")
    if user_type not in (POWER, LIGHTING):
        raise PenaltyInputError("user_type must be power or lighting", field="user_type")
    known = flag_input(inputs, "period_known")
    price = _need(inputs, "price")
    measured = decimal_input(inputs, "measured_kwh", required=False) if known else None
    if measured is not None:
        energy = _energy(measured)
        basis.step(
            "energy",
            f"窃电量 = 实测电量 {_fmt(measured)} kWh",
            f"stolen energy = measured {_fmt(measured)} kWh",
            energy,
            "kWh",
        )
    else:
        capacity = _need(inputs, "capacity_kw")
        if known:
            hours = _need(inputs, "hours_per_day")
            if hours > 24:
                raise PenaltyInputError("hours_per_day is at most 24", field="hours_per_day")
            days = _need(inputs, "days")
            zh_period = f"实际窃电 {_fmt(days)} 天 × 每天 {_fmt(hours)} 小时"
            en_period = f"{_fmt(days)} actual days × {_fmt(hours)} h a day"
        else:
            days_rule = _rule(rules, "theft_unknown_days")
            hours_key = "theft_hours_power" if user_type == POWER else "theft_hours_lighting"
            hours_rule = _rule(rules, hours_key)
            basis.use("theft_unknown_days", days_rule)
            basis.use(hours_key, hours_rule)
            days, hours = days_rule.value, hours_rule.value
            who_zh = "电力用户" if user_type == POWER else "照明用户"
            who_en = "power user" if user_type == POWER else "lighting user"
            zh_period = f"窃电时间无法查明, 按 {_fmt(days)} 天 × 每天 {_fmt(hours)} 小时 ({who_zh})"
            en_period = f"period unknown: {_fmt(days)} days × {_fmt(hours)} h a day ({who_en})"
        energy = _energy(capacity * hours * days)
        basis.step(
            "energy",
            f"窃电量 = 容量 {_fmt(capacity)} kW × {zh_period} = {energy} kWh",
            f"stolen energy = {_fmt(capacity)} kW × {en_period} = {energy} kWh",
            energy,
            "kWh",
        )
    back = _money(energy * price)
    basis.step(
        "back_charge",
        f"追补电费 = {energy} kWh × {_fmt(price)} 元/kWh = {back} 元",
        f"back charge = {energy} kWh × {_fmt(price)} yuan/kWh = {back} yuan",
        back,
        "yuan",
    )
    multiple_rule = _rule(rules, "theft_multiple")
    multiple = _applied(multiple_rule, inputs, "agreed_multiple")
    basis.use("theft_multiple", multiple_rule, applied=multiple)
    penalty = _money(back * multiple)
    cap = " (合同约定, 不高于 " + _fmt(multiple_rule.value) + " 倍)" if multiple_rule.is_cap else ""
    cap_en = f" (agreed, ceiling {_fmt(multiple_rule.value)}×)" if multiple_rule.is_cap else ""
    basis.step(
        "penalty",
        f"违约使用电费 = {back} 元 × {_fmt(multiple)} 倍{cap} = {penalty} 元",
        f"penalty = {back} yuan × {_fmt(multiple)}{cap_en} = {penalty} yuan",
        penalty,
        "yuan",
    )
    total = back + penalty
    basis.step(
        "total",
        f"合计 = {back} + {penalty} = {total} 元",
        f"total = {back} + {penalty} = {total} yuan",
        total,
        "yuan",
    )
    return basis.done((energy, back, penalty, total), inputs)


# --- violations --------------------------------------------------------------------------------------


def _multiple_penalty(
    basis: _Basis, rules: Mapping[str, Any], inputs: Mapping[str, Any], key: str, back: Decimal
) -> Decimal:
    rule = _rule(rules, key)
    multiple = _applied(rule, inputs, "agreed_multiple")
    basis.use(key, rule, applied=multiple)
    penalty = _money(back * multiple)
    cap = f" (合同约定, 不高于 {_fmt(rule.value)} 倍)" if rule.is_cap else ""
    cap_en = f" (agreed, ceiling {_fmt(rule.value)}×)" if rule.is_cap else ""
    basis.step(
        "penalty",
        f"违约使用电费 = {back} 元 × {_fmt(multiple)} 倍{cap} = {penalty} 元",
        f"penalty = {back} yuan × {_fmt(multiple)}{cap_en} = {penalty} yuan",
        penalty,
        "yuan",
    )
    return penalty


def _amount_penalty(
    basis: _Basis,
    rules: Mapping[str, Any],
    inputs: Mapping[str, Any],
    key: str,
    quantity: Decimal,
    zh_quantity: str,
    en_quantity: str,
) -> Decimal:
    rule = _rule(rules, key)
    amount = _applied(rule, inputs, "agreed_amount")
    basis.use(key, rule, applied=amount)
    penalty = _money(amount * quantity)
    cap = f" (合同约定, 不高于 {_fmt(rule.value)} 元)" if rule.is_cap else ""
    cap_en = f" (agreed, ceiling {_fmt(rule.value)} yuan)" if rule.is_cap else ""
    basis.step(
        "penalty",
        f"违约使用电费 = {_fmt(amount)} 元{cap} × {zh_quantity} = {penalty} 元",
        f"penalty = {_fmt(amount)} yuan{cap_en} × {en_quantity} = {penalty} yuan",
        penalty,
        "yuan",
    )
    return penalty


def _basic_back(basis: _Basis, inputs: Mapping[str, Any], capacity_key: str) -> Decimal:
    price = _need(inputs, "basic_price")
    capacity = _need(inputs, capacity_key)
    months = _need(inputs, "months")
    back = _money(price * capacity * months)
    basis.step(
        "back_charge",
        f"补交基本电费 = {_fmt(price)} 元/kVA·月 × {_fmt(capacity)} kVA × {_fmt(months)} 月 = {back} 元",
        f"basic charge = {_fmt(price)} yuan/kVA·month × {_fmt(capacity)} kVA × {_fmt(months)} months"
        f" = {back} yuan",
        back,
        "yuan",
    )
    return back


def violation_charges(rules: Mapping[str, Any], inputs: Mapping[str, Any], violation_kind: str) -> Charges:
    """违约用电 of ``violation_kind`` (one of ``VIOLATION_KINDS``)."""
    if violation_kind not in VIOLATION_KINDS:
        raise PenaltyInputError("choose the kind of violation", field="violation_kind")
    basis = _Basis(VIOLATION, violation_kind)
    energy = ZERO.quantize(KWH)
    back = ZERO.quantize(CENT)
    if violation_kind == "tariff_misuse":
        difference = _need(inputs, "price_difference")
        if flag_input(inputs, "period_known"):
            energy = _energy(_need(inputs, "energy_kwh"))
            zh = f"实际使用期电量 {energy} kWh"
            en = f"energy of the actual period {energy} kWh"
        else:
            months_rule = _rule(rules, "tariff_misuse_unknown_months")
            basis.use("tariff_misuse_unknown_months", months_rule)
            monthly = _need(inputs, "monthly_kwh")
            energy = _energy(monthly * months_rule.value)
            months = _fmt(months_rule.value)
            zh = f"使用起讫日期难以确定, 按 {months} 个月 × 月用电量 {_fmt(monthly)} kWh = {energy} kWh"
            en = f"period unknown: {months} months × {_fmt(monthly)} kWh a month = {energy} kWh"
        basis.step("energy", f"差价电量: {zh}", f"energy: {en}", energy, "kWh")
        back = _money(energy * difference)
        basis.step(
            "back_charge",
            f"补交差额电费 = {energy} kWh × 差价 {_fmt(difference)} 元/kWh = {back} 元",
            f"price difference = {energy} kWh × {_fmt(difference)} yuan/kWh = {back} yuan",
            back,
            "yuan",
        )
        penalty = _multiple_penalty(basis, rules, inputs, "tariff_misuse_multiple", back)
    elif violation_kind == "excess_capacity":
        if flag_input(inputs, "two_part"):
            back = _basic_back(basis, inputs, "added_kva")
            penalty = _multiple_penalty(basis, rules, inputs, "capacity_two_part_multiple", back)
        else:
            added = _need(inputs, "added_kw")
            penalty = _amount_penalty(
                basis,
                rules,
                inputs,
                "capacity_other_per_kw",
                added,
                f"私增容量 {_fmt(added)} kW",
                f"{_fmt(added)} kW added",
            )
    elif violation_kind == "sealed_equipment":
        if flag_input(inputs, "two_part"):
            back = _basic_back(basis, inputs, "capacity_kva")
            penalty = _multiple_penalty(basis, rules, inputs, "sealed_two_part_multiple", back)
        else:
            capacity = _need(inputs, "capacity_kw")
            times = _count(inputs, "occurrences")
            penalty = _amount_penalty(
                basis,
                rules,
                inputs,
                "sealed_other_per_kw",
                capacity * times,
                f"{_fmt(capacity)} kW × {_fmt(times)} 次",
                f"{_fmt(capacity)} kW × {_fmt(times)} occurrence(s)",
            )
    elif violation_kind == "meter_tampering":
        residential = flag_input(inputs, "residential")
        times = _count(inputs, "occurrences")
        key = "tampering_residential" if residential else "tampering_other"
        penalty = _amount_penalty(
            basis,
            rules,
            inputs,
            key,
            times,
            f"{_fmt(times)} 次 ({'居民用户' if residential else '其他用户'})",
            f"{_fmt(times)} occurrence(s) ({'residential' if residential else 'other user'})",
        )
    else:  # source_connection
        source = _need(inputs, "source_kw")
        penalty = _amount_penalty(
            basis,
            rules,
            inputs,
            "source_per_kw",
            source,
            f"电源容量 {_fmt(source)} kW",
            f"{_fmt(source)} kW of the source",
        )
    total = back + penalty
    basis.step(
        "total",
        f"合计 = {back} + {penalty} = {total} 元",
        f"total = {back} + {penalty} = {total} yuan",
        total,
        "yuan",
    )
    return basis.done((energy, back, penalty, total), inputs)


def case_charges(
    rules: Mapping[str, Any], inputs: Mapping[str, Any], *, kind: str, violation_kind: str = ""
) -> Charges:
    """The charges of a theft or violation case (the module docstring's formulas)."""
    if kind == THEFT:
        return theft_charges(rules, inputs)
    if kind == VIOLATION:
        return violation_charges(rules, inputs, violation_kind)
    raise PenaltyInputError("choose theft or violation", field="kind")


# --- amounts in words (大写金额) ---------------------------------------------------------------------

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_UNITS = ("仟", "佰", "拾", "")
_SECTIONS = ("", "万", "亿", "万亿")


def _group(number: int) -> str:
    out = ""
    zero = False
    for i, unit in enumerate(_UNITS):
        digit = number // 10 ** (3 - i) % 10
        if digit == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
        out += _DIGITS[digit] + unit
        zero = False
    return out


def rmb_capital(amount: Decimal) -> str:
    """An amount in Chinese capital numerals as on a financial document (会计基础工作规范
    第五十二条: an amount ending at 元 or 角 takes 整 after it, one with 分 does not):
    1872.00 → 壹仟捌佰柒拾贰元整, 1.50 → 壹元伍角整, 10010.05 → 壹万零壹拾元零伍分."""
    value = Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)
    if value < 0:
        return "负" + rmb_capital(-value)
    fen_total = int(value * 100)
    yuan, jiao, fen = fen_total // 100, fen_total // 10 % 10, fen_total % 10
    if fen_total == 0:
        return "零元整"
    words = ""
    if yuan:
        groups: list[int] = []
        rest = yuan
        while rest:
            groups.append(rest % 10000)
            rest //= 10000
        pending_zero = False
        for index in range(len(groups) - 1, -1, -1):
            part = groups[index]
            if part == 0:
                pending_zero = bool(words)
                continue
            if words and (pending_zero or part < 1000):
                words += "零"
            words += _group(part) + _SECTIONS[index]
            pending_zero = False
        words += "元"
    if jiao == 0 and fen == 0:
        return words + "整"
    if jiao:
        words += _DIGITS[jiao] + "角"
    elif yuan:
        words += "零"
    if fen:
        return words + _DIGITS[fen] + "分"
    return words + "整"
