"""The quality gate, as a pure decision: is the challenger better than what it would replace?

The challenger must reach the champion's average precision **and** card precision@k, measured on
the same test window, plus the configured margins. The first model, with no champion to beat,
must beat a logistic baseline the same way. :func:`decide` only compares numbers; loading models,
moving aliases and writing the audit trail is :func:`fraudstream.training.promotion.promote`.
"""

from __future__ import annotations

import math
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

from fraudstream.training.registry_config import GateConfig

MetricName = Literal["average_precision", "card_precision_top_k"]
ReferenceRole = Literal["champion", "baseline"]

GATE_METRICS: Final[tuple[MetricName, ...]] = ("average_precision", "card_precision_top_k")
#: Float noise tolerated when a gain is compared with its margin (0.105 - 0.1 < 0.005 in floats).
_TOLERANCE: Final = 1e-12


class GateMetrics(BaseModel):
    """A model's gate metrics on one test window.

    Attributes:
        average_precision: Average precision of the fraud probabilities.
        card_precision_top_k: Card precision@k, the mean over the window's days.
        test_window: The window, ``YYYY-MM-DD..YYYY-MM-DD``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")

    average_precision: float
    card_precision_top_k: float
    test_window: str


class MetricCheck(BaseModel):
    """The comparison of one metric between the challenger and the reference model.

    Attributes:
        metric: Which metric.
        challenger: The challenger's value.
        reference: The champion's (or the baseline's) value.
        margin: The gain the gate asks for.
        gain: ``challenger - reference`` (NaN when either is not a number).
        cleared: Whether the gain reaches the margin.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")

    metric: MetricName
    challenger: float
    reference: float
    margin: float
    gain: float
    cleared: bool

    @property
    def shortfall(self) -> float:
        """How much the challenger lacks to clear the margin (0 when it clears it)."""
        return 0.0 if self.cleared else self.margin - self.gain

    def describe(self, role: ReferenceRole) -> str:
        """One clause of the decision's reason, with the numbers."""
        numbers = (
            f"{self.challenger:.4f} vs {role} {self.reference:.4f} "
            f"(gain {self.gain:+.4f}, margin {self.margin:.4f})"
        )
        if self.cleared:
            return f"{self.metric} {numbers} cleared"
        if math.isnan(self.gain):
            return f"{self.metric} {numbers} is not a number"
        return f"{self.metric} {numbers} is {self.shortfall:.4f} short"


class PromotionDecision(BaseModel):
    """What the gate decided about a challenger, and on which evidence.

    Attributes:
        promoted: Whether the challenger becomes (became) champion.
        reason: The rules that decided, with the numbers; which metric failed and by how much.
        compared_with: ``champion``, or ``baseline`` when there was no champion to beat.
        challenger: The challenger's metrics.
        reference: The champion's (or baseline's) metrics on the same test window.
        checks: One comparison per gate metric (empty when the windows differ).
        challenger_version: The registered version judged (set by ``promote``).
        champion_version: The champion when the gate ran (set by ``promote``; None: none).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")

    promoted: bool
    reason: str
    compared_with: ReferenceRole
    challenger: GateMetrics
    reference: GateMetrics
    checks: tuple[MetricCheck, ...]
    challenger_version: int | None = None
    champion_version: int | None = None


def _check(metric: MetricName, challenger: float, reference: float, margin: float) -> MetricCheck:
    gain = challenger - reference
    cleared = math.isfinite(gain) and gain >= margin - _TOLERANCE
    return MetricCheck(
        metric=metric,
        challenger=challenger,
        reference=reference,
        margin=margin,
        gain=gain,
        cleared=cleared,
    )


def _verdict(checks: tuple[MetricCheck, ...], config: GateConfig) -> tuple[bool, str]:
    """Whether the checks pass under ``config.require_both``, and why not when they do not."""
    if config.require_both:
        failed = [c.metric for c in checks if not c.cleared]
        return not failed, f"{' and '.join(failed)} must clear the margin" if failed else ""
    # Either metric may carry the promotion, but the other may not get worse.
    worse = [c.metric for c in checks if not (math.isfinite(c.gain) and c.gain >= -_TOLERANCE)]
    if worse:
        return False, f"{' and '.join(worse)} got worse, which require_both=false still forbids"
    if not any(c.cleared for c in checks):
        return False, "neither metric clears its margin"
    return True, ""


def decide(
    challenger: GateMetrics,
    incumbent: GateMetrics | None,
    baseline: GateMetrics,
    config: GateConfig,
) -> PromotionDecision:
    """Decide whether ``challenger`` may replace ``incumbent`` (or, without one, be first).

    Args:
        challenger: The new model's metrics on its test window.
        incumbent: The champion's metrics on the same window, or None when there is none.
        baseline: The logistic baseline's metrics on the same window (used without champion).
        config: The margins and whether both metrics must clear them.

    Returns:
        The decision, whose reason names each metric's values, gain and shortfall.
    """
    role: ReferenceRole = "baseline" if incumbent is None else "champion"
    reference = baseline if incumbent is None else incumbent
    if reference.test_window != challenger.test_window:
        reason = (
            f"not comparable: the challenger was measured on {challenger.test_window} but the "
            f"{role} on {reference.test_window}; score both on the challenger's test window"
        )
        return PromotionDecision(
            promoted=False,
            reason=reason,
            compared_with=role,
            challenger=challenger,
            reference=reference,
            checks=(),
        )
    margins = {
        "average_precision": config.margin_average_precision,
        "card_precision_top_k": config.margin_card_precision,
    }
    checks = tuple(
        _check(metric, getattr(challenger, metric), getattr(reference, metric), margins[metric])
        for metric in GATE_METRICS
    )
    promoted, rule = _verdict(checks, config)
    details = "; ".join(check.describe(role) for check in checks)
    reason = f"on {challenger.test_window}: {details}" + (f" ({rule})" if rule else "")
    return PromotionDecision(
        promoted=promoted,
        reason=reason,
        compared_with=role,
        challenger=challenger,
        reference=reference,
        checks=checks,
    )


__all__ = [
    "GATE_METRICS",
    "GateMetrics",
    "MetricCheck",
    "MetricName",
    "PromotionDecision",
    "ReferenceRole",
    "decide",
]
