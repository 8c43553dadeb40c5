"""Reasons of holds, rating errors and review flags: stored as fixed English text, shown in
the reader's language (gettext), anything unknown shown as stored (pure: no database)."""

from __future__ import annotations

import ast
import inspect
from decimal import Decimal

import polars as pl
import pytest
from django.utils import translation
from django.utils.translation import gettext as _

from gridcare.billing.engine import catalogue, rating
from gridcare.billing.reasons import (
    EARLIER_MONTH,
    ENGINE_REASONS,
    HIGH_AMOUNT,
    MISSING_READING,
    NOT_RATED,
    OPEN_EXCEPTION,
    SENT_BACK,
    engine_reason_text,
    reason_text,
)
from gridcare.billing.services.runs import EARLIER_MONTH_HELD
from gridcare.metering.choices import Register, VeeRule


def test_stored_texts_keep_the_form_of_existing_rows():
    # the database holds these forms since the first run: they must not change
    assert OPEN_EXCEPTION.text(rule="spike") == "Open reading exception (spike) in the period"
    assert (
        MISSING_READING.text(meter="M00012", register="total", day="2026-11-01")
        == "Missing reading: meter M00012 register total on 2026-11-01"
    )
    assert NOT_RATED.text(reason="unknown tariff X9") == "Not rated: unknown tariff X9"
    assert EARLIER_MONTH.text(month="2026-09") == "Earlier month not billed (2026-09)"
    assert SENT_BACK.text(note="re-read") == "Sent back at review: re-read"
    assert EARLIER_MONTH.text(month="2026-09").startswith(EARLIER_MONTH_HELD)  # cannot be released
    assert not SENT_BACK.text(note="Earlier month not billed").startswith(EARLIER_MONTH_HELD)
    assert (
        HIGH_AMOUNT.text(amount="¥90.00", factor=Decimal("3.0"), months=6, average="¥20.00")
        == "Amount ¥90.00 above 3.0 × the 6-month average ¥20.00"
    )


def test_the_bulk_expression_builds_the_same_text():
    frame = pl.DataFrame({"rule": ["spike", "decreasing"]})
    built = frame.select(OPEN_EXCEPTION.expr(rule=pl.col("rule")).alias("reason"))["reason"].to_list()
    assert built == [OPEN_EXCEPTION.text(rule="spike"), OPEN_EXCEPTION.text(rule="decreasing")]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_hold_reasons_are_shown_in_the_current_language(language):
    with translation.override(language):
        spike = str(VeeRule.SPIKE.label)
        total = str(Register.TOTAL.label)
        note = "表计停走 (50%)"
        expected = {
            OPEN_EXCEPTION.text(rule="spike"): _("Open reading exception in the period: %(rule)s")
            % {"rule": spike},
            MISSING_READING.text(meter="M00012", register="total", day="2026-11-01"): _(
                "Missing reading: meter %(meter)s, register %(register)s, on %(day)s"
            )
            % {"meter": "M00012", "register": total, "day": "2026-11-01"},
            EARLIER_MONTH.text(month="2026-09"): _("Earlier month not billed (%(month)s)")
            % {"month": "2026-09"},
            SENT_BACK.text(note=note): _("Sent back at review: %(note)s") % {"note": note},
            NOT_RATED.text(reason="unknown tariff X9"): _("Not rated: %(reason)s")
            % {"reason": _("Unknown tariff %(code)s") % {"code": "X9"}},
        }
        shown = {stored: reason_text(stored) for stored in expected}
    assert shown == expected
    if language == "zh-hans":  # the rule's and the register's labels are translated already
        assert "电量突增" in shown["Open reading exception (spike) in the period"]
        assert "Consumption spike" not in shown["Open reading exception (spike) in the period"]
    else:
        assert shown["Open reading exception (spike) in the period"] == (
            "Open reading exception in the period: Consumption spike (电量突增)"
        )
        assert shown["Not rated: unknown tariff X9"] == "Not rated: Unknown tariff X9"


def test_review_details_are_shown_in_the_current_language():
    with translation.override("zh-hans"):
        expected = _("Amount %(amount)s above %(factor)s × the %(months)s-month average %(average)s") % {
            "amount": "¥90.00",
            "factor": "3.0",
            "months": "6",
            "average": "¥20.00",
        }
        assert reason_text("Amount ¥90.00 above 3.0 × the 6-month average ¥20.00") == expected
        assert reason_text("Amount ¥-1.20 is negative") == _("Amount %(amount)s is negative") % {
            "amount": "¥-1.20"
        }


def test_unknown_texts_are_shown_as_stored():
    with translation.override("zh-hans"):
        assert reason_text("Checked by phone, waiting for the customer") == (
            "Checked by phone, waiting for the customer"
        )
        assert reason_text("") == ""
        # an engine reason of no known kind keeps its words behind the translated prefix
        new = _("Not rated: %(reason)s") % {"reason": "something new"}
        assert reason_text("Not rated: something new") == new
        # a rule or register the choices do not know is shown by its code
        assert reason_text("Open reading exception (gap) in the period") == _(
            "Open reading exception in the period: %(rule)s"
        ) % {"rule": "gap"}


def _engine_texts() -> list[str]:
    """Every reason the engine's source words itself: the second argument of ``.error(…)``,
    what it assigns to ``reason``, the keys of its ``errors`` dicts, and the invalid-version
    text of the catalogue; an f-string's fields filled with ``X``."""

    def text(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
        return None

    found: list[str | None] = []
    for module in (rating, catalogue):
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            if call and node.func.attr == "error":
                found += [text(node.args[1])] if len(node.args) == 2 else []
            elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name | ast.Subscript):
                target = node.targets[0]
                name = target.id if isinstance(target, ast.Name) else getattr(target.value, "id", "")
                if name == "reason" or (module is catalogue and name == "out"):
                    found.append(text(node.value))
                elif name == "errors" and isinstance(node.value, ast.Dict):
                    found += [text(key) for key in node.value.keys if key is not None]
    return [t for t in found if t is not None]


def test_every_engine_reason_has_words():
    texts = _engine_texts()
    assert len(texts) >= 15  # the scan finds the engine's reasons
    unknown = [t for t in texts if not any(kind.pattern.fullmatch(t) for kind in ENGINE_REASONS)]
    assert unknown == []


def test_engine_reasons_are_shown_in_the_current_language():
    with translation.override("en"):
        assert engine_reason_text("negative consumption") == "Negative consumption"
        assert (
            engine_reason_text("no agency purchase price for GIC-LV in 2026-10")
            == "No agency purchase price for GIC-LV in 2026-10"
        )
        assert engine_reason_text("a reason of tomorrow") == "a reason of tomorrow"
    with translation.override("zh-hans"):
        assert engine_reason_text("no version of R1 in force at the period start") == _(
            "No version of tariff %(code)s in force at the start of the period"
        ) % {"code": "R1"}
