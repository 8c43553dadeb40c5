"""Words for what the theft model and the line-loss analysis compute, for the console.

* :data:`FEATURES` — each of the 24 theft features of ``engine.features.FEATURE_NAMES`` (in
  that order; a test checks it, and a feature without words is shown by its name): a
  short label, one plain sentence an inspector can act on, and how its value reads (a ratio,
  a share of days shown as a percentage, days, kWh or a correlation);
* :data:`FLAG_REASONS` — the line-loss flag codes (``rate_above``, ``jump``, ``negative``)
  with a label and a sentence built from the flag's value and threshold.

Every string goes through ``gettext_lazy`` (English source, Chinese in the catalogue).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from django.utils.translation import gettext_lazy as _

__all__ = [
    "FEATURES",
    "FLAG_REASONS",
    "FeatureLabel",
    "feature_label",
    "feature_value_text",
    "flag_reason_text",
]


@dataclass(frozen=True)
class FeatureLabel:
    """A feature as a person reads it. ``kind`` says how the value is shown: ``ratio``
    (×, 1 = the same), ``share`` (a fraction shown as %), ``days``, ``kwh`` or ``corr``
    (a correlation between −1 and 1)."""

    label: Any
    explanation: Any
    kind: str


FEATURES: Final[dict[str, FeatureLabel]] = {
    "mean_kwh": FeatureLabel(
        _("Average daily use"),
        _("The customer's average consumption per day over the scored window."),
        "kwh",
    ),
    "mean_to_peers": FeatureLabel(
        _("Use against similar customers"),
        _(
            "Average use divided by the median of customers of the same class: far below 1 "
            "means much less than them."
        ),
        "ratio",
    ),
    "late_to_peers": FeatureLabel(
        _("Recent use against similar customers"),
        _("Use of the last 12 weeks relative to same-class customers on the same days."),
        "ratio",
    ),
    "last4w_to_own": FeatureLabel(
        _("Last 4 weeks against own history"),
        _("Use of the last 4 weeks divided by the customer's own earlier level: below 1 is a recent fall."),
        "ratio",
    ),
    "last12w_to_own": FeatureLabel(
        _("Last 12 weeks against own history"),
        _("Use of the last 12 weeks divided by the customer's own earlier level."),
        "ratio",
    ),
    "split_ratio": FeatureLabel(
        _("Lasting drop (after ÷ before)"),
        _(
            "The deepest lasting step down: the average after a date divided by the average "
            "before it (0.4 = fell to 40 %)."
        ),
        "ratio",
    ),
    "cusum_score": FeatureLabel(
        _("Strength of the step down"),
        _(
            "How clearly consumption stepped down at one date, in standard deviations (the "
            "larger, the less likely by chance)."
        ),
        "ratio",
    ),
    "split_position": FeatureLabel(
        _("How recent the step is"),
        _("Share of the customer's history after the step down: a small share means it happened lately."),
        "share",
    ),
    "max_drop_4w": FeatureLabel(
        _("Largest 4-week fall"),
        _("The largest fall between two consecutive 4-week periods, as a share of the first."),
        "share",
    ),
    "min_4w_to_own": FeatureLabel(
        _("Lowest 4 weeks against own average"),
        _("The lowest 4-week average divided by the customer's overall average."),
        "ratio",
    ),
    "zero_share": FeatureLabel(
        _("Days with zero use"),
        _("Share of days the meter recorded no consumption at all."),
        "share",
    ),
    "zero_longest_run": FeatureLabel(
        _("Longest run of zero days"),
        _("The most consecutive days with no consumption: a stopped or bypassed meter shows long runs."),
        "days",
    ),
    "zero_share_late": FeatureLabel(
        _("Zero-use days lately"),
        _("Share of the last 12 weeks with no consumption."),
        "share",
    ),
    "acf7": FeatureLabel(
        _("Weekly rhythm"),
        _(
            "How strongly use repeats from one week to the next; a tampered meter often "
            "loses the household's weekly pattern."
        ),
        "corr",
    ),
    "acf1": FeatureLabel(
        _("Day-to-day consistency"),
        _("How much each day's use resembles the day before (autocorrelation at one day)."),
        "corr",
    ),
    "acf1_after_split": FeatureLabel(
        _("Day-to-day consistency after the step"),
        _("Day-to-day consistency of the readings after the step down."),
        "corr",
    ),
    "acf1_change": FeatureLabel(
        _("Change of consistency at the step"),
        _(
            "Day-to-day consistency after the step minus before it: a random scaling of the "
            "readings lowers it."
        ),
        "corr",
    ),
    "std_ratio_split": FeatureLabel(
        _("Spread after ÷ before the step"),
        _("Standard deviation of daily use after the step divided by before it."),
        "ratio",
    ),
    "rough_ratio_split": FeatureLabel(
        _("Day-to-day jumps after ÷ before the step"),
        _(
            "Average change from one day to the next relative to the level, after the step "
            "divided by before it."
        ),
        "ratio",
    ),
    "cv_smooth": FeatureLabel(
        _("Irregular noise"),
        _(
            "How far daily readings stray from their own weekly average; meters "
            "under-reporting at random add noise."
        ),
        "ratio",
    ),
    "cv_smooth_after_split": FeatureLabel(
        _("Irregular noise after the step"),
        _("The irregular noise of the readings after the step down."),
        "ratio",
    ),
    "cv_smooth_change": FeatureLabel(
        _("Change of irregular noise at the step"),
        _("Irregular noise after the step divided by before it."),
        "ratio",
    ),
    "low_share_late": FeatureLabel(
        _("Recent days below half the usual"),
        _("Share of the last 12 weeks' days with less than half the customer's earlier average."),
        "share",
    ),
    "missing_share": FeatureLabel(
        _("Days without a reading"),
        _(
            "Share of days in the customer's span with no daily reading (communication gaps, "
            "a removed meter)."
        ),
        "share",
    ),
}


def feature_label(name: str) -> FeatureLabel:
    """The label of ``name``; an unknown feature (a newer model) is shown by its name."""
    known = FEATURES.get(name)
    if known is not None:
        return known
    return FeatureLabel(name, "", "ratio")


def feature_value_text(name: str, value: float | None) -> str:
    """A feature value as a person reads it: ``0.42``, ``35.0 %``, ``12 days``, ``8.31 kWh``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    kind = feature_label(name).kind
    if kind == "share":
        return f"{value * 100:.1f} %"
    if kind == "days":
        return str(_("%(days)d days") % {"days": round(value)})
    if kind == "kwh":
        return f"{value:.2f} kWh"
    return f"{value:.2f}"


@dataclass(frozen=True)
class FlagReasonLabel:
    """A line-loss flag code: its label and a sentence with ``%(value)s`` and ``%(threshold)s``."""

    label: Any
    sentence: Any
    tone: str


FLAG_REASONS: Final[dict[str, FlagReasonLabel]] = {
    "rate_above": FlagReasonLabel(
        _("Loss rate above the threshold"),
        _("The recent loss rate of %(value)s %% is above the threshold of %(threshold)s %%."),
        "danger",
    ),
    "jump": FlagReasonLabel(
        _("Loss rate jumped"),
        _(
            "The loss rate rose by %(value)s points against the area's own baseline "
            "(threshold %(threshold)s points)."
        ),
        "danger",
    ),
    "negative": FlagReasonLabel(
        _("Negative loss (customers' energy above input)"),
        _(
            "The recent loss rate of %(value)s %% is below %(threshold)s %%: customers' meters recorded more "
            "than the area's total meter delivered. Check the archive (customers under the wrong area), "
            "the total meter and its multiplier rather than theft."
        ),
        "warn",
    ),
}


def _number(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value) if value is not None else "—"
    return f"{number:.2f}" if math.isfinite(number) else "—"


def flag_reason_text(reason: dict[str, Any]) -> dict[str, Any]:
    """``{"code", "label", "text", "tone", "value", "threshold"}`` of one ``flag_reasons``
    entry of an ``AreaLoss``; an unknown code keeps its code as label."""
    code = str(reason.get("code", ""))
    known = FLAG_REASONS.get(code)
    value, threshold = _number(reason.get("value")), _number(reason.get("threshold"))
    if known is None:
        return {
            "code": code,
            "label": code,
            "text": f"{code}: {value} ({threshold})",
            "tone": "warn",
            "value": reason.get("value"),
            "threshold": reason.get("threshold"),
        }
    return {
        "code": code,
        "label": str(known.label),
        "text": str(known.sentence) % {"value": value, "threshold": threshold},
        "tone": known.tone,
        "value": reason.get("value"),
        "threshold": reason.get("threshold"),
    }
