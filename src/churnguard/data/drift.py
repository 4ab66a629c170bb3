"""Drift specifications for the synthetic generator: what a drifted batch changes, validated."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from churnguard.data.schema import CATEGORIES, INTERNET_ADDONS, NO_INTERNET, NO_PHONE

__all__ = ["SHIFTABLE_COLUMNS", "STRUCTURAL_VALUES", "DriftSpec"]

#: Numeric columns a `DriftSpec` can scale; TotalCharges follows them.
SHIFTABLE_COLUMNS: Final = ("MonthlyCharges", "tenure")
#: Values fixed by a rule on another column, so a category mix may not set them.
STRUCTURAL_VALUES: Final = {
    "MultipleLines": NO_PHONE,
    **dict.fromkeys(INTERNET_ADDONS, NO_INTERNET),
}
_TOLERANCE: Final = 1e-6


@dataclass(frozen=True)
class DriftSpec:
    """How a synthetic batch departs from the reference population.

    Drift enters at its column's place in the causal order, so downstream columns respond: a
    Contract mix changes tenure, payment method and churn; a tenure factor changes the add-ons,
    TotalCharges and churn. The churn model itself (P(churn | features)) only changes through
    ``churn_logit_shift`` and ``churn_coefficient_scale``.

    Attributes:
        numeric_shift: Multiplicative factor per column of `SHIFTABLE_COLUMNS`, e.g.
            ``{"MonthlyCharges": 1.2}``. Results are clipped to the schema ranges, tenure is
            rounded to whole months and TotalCharges is recomputed from both.
        category_mix: New distribution of a categorical column, e.g.
            ``{"Contract": {"Month-to-month": 0.8, "One year": 0.1, "Two year": 0.1}}``. It replaces
            the column's conditional distribution for every customer; values left out get
            probability 0. For MultipleLines and the internet add-ons the mix is over "No"/"Yes"
            among customers with phone/internet service: "No phone service" and
            "No internet service" follow PhoneService/InternetService and are rejected here.
        churn_logit_shift: Added to every customer's churn log-odds (+1 raises the churn rate).
        churn_coefficient_scale: Multiplies the churn model's feature effects (>= 0): 1 is
            unchanged, 0 makes churn independent of the features (concept drift). A calibrated
            intercept keeps the reference churn rate (within about 0.01 for scales 0 to 3), so
            this drifts P(churn | features) without changing how many customers churn.

    Raises:
        ValueError: If a column, value, probability or factor is invalid; the message names it
            and lists what is allowed.
    """

    numeric_shift: Mapping[str, float] = field(default_factory=dict)
    category_mix: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    churn_logit_shift: float = 0.0
    churn_coefficient_scale: float = 1.0

    def __post_init__(self) -> None:
        _check_numeric_shift(self.numeric_shift)
        for column, mix in self.category_mix.items():
            _check_category_mix(column, mix)
        if not math.isfinite(self.churn_logit_shift):
            raise ValueError(f"churn_logit_shift must be finite, got {self.churn_logit_shift!r}")
        if not (math.isfinite(self.churn_coefficient_scale) and self.churn_coefficient_scale >= 0):
            raise ValueError(
                "churn_coefficient_scale must be a finite number >= 0, "
                f"got {self.churn_coefficient_scale!r}"
            )
        # Own copies, so later edits of the caller's dicts cannot bypass the validation (plain
        # dicts rather than MappingProxyType so that a spec can be pickled to worker processes).
        mixes = {column: dict(mix) for column, mix in self.category_mix.items()}
        object.__setattr__(self, "numeric_shift", dict(self.numeric_shift))
        object.__setattr__(self, "category_mix", mixes)


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(repr(value) for value in values)


def _check_numeric_shift(numeric_shift: Mapping[str, float]) -> None:
    for column, factor in numeric_shift.items():
        if column not in SHIFTABLE_COLUMNS:
            raise ValueError(
                f"numeric_shift has unknown column {column!r}; allowed columns: "
                f"{_quoted(SHIFTABLE_COLUMNS)} (TotalCharges is recomputed from them)"
            )
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(
                f"numeric_shift[{column!r}] must be a positive finite factor, got {factor!r}"
            )


def _check_category_mix(column: str, mix: Mapping[str, float]) -> None:
    if column not in CATEGORIES:
        raise ValueError(
            f"category_mix has unknown column {column!r}; allowed columns: {_quoted(list(CATEGORIES))}"
        )
    allowed = tuple(v for v in CATEGORIES[column] if v != STRUCTURAL_VALUES.get(column))
    for value, probability in mix.items():
        if value not in allowed:
            reason = (
                "is set by a rule on another column"
                if value in CATEGORIES[column]
                else "is unknown"
            )
            raise ValueError(
                f"category_mix[{column!r}] value {value!r} {reason}; "
                f"allowed values: {_quoted(allowed)}"
            )
        if not (math.isfinite(probability) and probability >= 0):
            raise ValueError(
                f"category_mix[{column!r}][{value!r}] must be a probability >= 0, "
                f"got {probability!r}"
            )
    total = math.fsum(mix.values())
    if abs(total - 1.0) > _TOLERANCE:
        raise ValueError(
            f"category_mix[{column!r}] probabilities sum to {total:.6g}, not 1 "
            f"(tolerance {_TOLERANCE:g}); values: {_quoted(allowed)}"
        )
