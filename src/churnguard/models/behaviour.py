"""Model-behaviour checks of the quality gate: a model and a processed frame in, results out.

Each check perturbs customer records the way a business rule says should (or should not) matter
and compares the churn probabilities before and after:

* :func:`schema_check` - the model scores the feature columns and returns probabilities;
* :func:`invariance_gender` - swapping gender barely moves any customer's probability;
* :func:`directional_contract` - moving month-to-month customers to a two-year contract lowers
  their probability;
* :func:`quality_check` - minimum quality: the gate metric (:func:`gate_metric`) clears the bar.

The functions are pure; the model is any object with ``predict_proba(DataFrame)``.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict
from sklearn.metrics import average_precision_score, roc_auc_score

from churnguard.data.schema import FEATURE_COLUMNS, TARGET_COLUMN
from churnguard.models.config import GateConfig

SCHEMA: Final = "schema"
INVARIANCE_GENDER: Final = "invariance_gender"
DIRECTIONAL_CONTRACT: Final = "directional_contract"
QUALITY: Final = "quality"
#: Share of month-to-month customers whose probability a two-year contract must lower.
MIN_LOWERED_SHARE: Final = 0.9

_GENDER_SWAP: Final = {"Male": "Female", "Female": "Male"}


class ChurnModel(Protocol):
    """Anything that scores processed customer records like a scikit-learn classifier."""

    def predict_proba(self, X: pd.DataFrame, /) -> Any:
        """Return an ``(n_rows, 2)`` array of class probabilities."""


class CheckResult(BaseModel):
    """The outcome of one behaviour check.

    Attributes:
        name: Which check ran.
        passed: Whether the model behaved as required.
        value: The measured quantity (see each check).
        limit: The bound ``value`` was compared with.
        detail: A sentence a person can act on, with the numbers.
    """

    # NaN (a model gone wrong) must survive a JSON round trip rather than turn into null.
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")

    name: str
    passed: bool
    value: float
    limit: float
    detail: str


def _features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[:, list(FEATURE_COLUMNS)]


def _churn_probability(model: ChurnModel, features: pd.DataFrame) -> NDArray[np.float64]:
    return np.asarray(model.predict_proba(features), dtype=np.float64)[:, 1]


def invariance_gender(model: ChurnModel, frame: pd.DataFrame, max_delta: float) -> CheckResult:
    """Swap Male and Female on every row; no churn probability may move by ``max_delta`` or more.

    ``value`` is the largest absolute change over all rows.

    Raises:
        KeyError: a feature column is missing (:func:`schema_check` reports that gently).
        ValueError: the frame has no rows.
    """
    features = _features(frame)
    if features.empty:
        raise ValueError("the gender invariance check needs at least one customer")
    swapped = features.assign(gender=features["gender"].map(lambda g: _GENDER_SWAP.get(g, g)))
    delta = np.abs(_churn_probability(model, swapped) - _churn_probability(model, features))
    worst = float(delta.max())
    passed = worst < max_delta
    detail = (
        f"swapping gender on {len(features)} customers moves the churn probability by at most "
        f"{worst:.4f} (mean {float(delta.mean()):.4f}); it must stay below {max_delta:.4f}"
    )
    if not passed:
        detail += ": the model relies on gender, which must not drive its decisions"
    return CheckResult(
        name=INVARIANCE_GENDER, passed=passed, value=worst, limit=max_delta, detail=detail
    )


def directional_contract(model: ChurnModel, frame: pd.DataFrame) -> CheckResult:
    """Month-to-month customers moved to a two-year contract must mostly look less likely to churn.

    Passes when the mean change of churn probability is negative AND at least
    :data:`MIN_LOWERED_SHARE` of those customers get a strictly lower probability. ``value`` is
    that share. A frame without month-to-month customers fails: there is nothing to check.

    Raises:
        KeyError: a feature column is missing (:func:`schema_check` reports that gently).
    """
    features = _features(frame)
    monthly = features[features["Contract"] == "Month-to-month"]
    if monthly.empty:
        return CheckResult(
            name=DIRECTIONAL_CONTRACT,
            passed=False,
            value=0.0,
            limit=MIN_LOWERED_SHARE,
            detail="the frame has no month-to-month customers, so the contract direction cannot be checked: use a larger test split",
        )
    delta = _churn_probability(model, monthly.assign(Contract="Two year")) - _churn_probability(
        model, monthly
    )
    lowered = int((delta < 0).sum())
    share = lowered / len(monthly)
    mean_delta = float(delta.mean())
    passed = mean_delta < 0 and share >= MIN_LOWERED_SHARE
    detail = (
        f"a two-year contract lowers the churn probability of {lowered} of {len(monthly)} "
        f"month-to-month customers ({share:.1%}, need >= {MIN_LOWERED_SHARE:.0%}); "
        f"mean change {mean_delta:+.4f} (need < 0)"
    )
    return CheckResult(
        name=DIRECTIONAL_CONTRACT,
        passed=passed,
        value=share,
        limit=MIN_LOWERED_SHARE,
        detail=detail,
    )


def _schema_failure(detail: str) -> CheckResult:
    return CheckResult(name=SCHEMA, passed=False, value=0.0, limit=1.0, detail=detail)


def schema_check(model: ChurnModel, frame: pd.DataFrame) -> CheckResult:
    """The model scores the feature columns (in schema order) with one probability per row.

    Never raises: a missing column, an exception from the model or a malformed output is a
    failed check whose detail says what went wrong. ``value`` is the share of rows that got a
    finite probability in [0, 1] (it must be 1).
    """
    missing = [column for column in FEATURE_COLUMNS if column not in frame.columns]
    if missing:
        return _schema_failure(f"the frame lacks feature column(s) {', '.join(missing)}")
    if frame.empty:
        return _schema_failure("the frame has no rows: the model cannot be checked on nothing")
    try:
        proba = np.asarray(model.predict_proba(_features(frame)), dtype=np.float64)
    except Exception as exc:  # any failure of a foreign model is the finding, not a crash
        return _schema_failure(f"predict_proba failed: {type(exc).__name__}: {exc}")
    if proba.ndim != 2 or proba.shape[0] != len(frame) or proba.shape[1] < 2:
        return _schema_failure(
            f"predict_proba returned shape {proba.shape}, expected ({len(frame)}, 2)"
        )
    churn = proba[:, 1]
    valid = np.isfinite(churn) & (churn >= 0.0) & (churn <= 1.0)
    share = float(valid.mean())
    if not valid.all():
        return CheckResult(
            name=SCHEMA,
            passed=False,
            value=share,
            limit=1.0,
            detail=f"{int((~valid).sum())} of {len(churn)} churn probabilities are not finite values in [0, 1]",
        )
    return CheckResult(
        name=SCHEMA,
        passed=True,
        value=share,
        limit=1.0,
        detail=f"scored {len(churn)} customers on {len(FEATURE_COLUMNS)} feature columns; every probability is in [0, 1]",
    )


def gate_metric(model: ChurnModel, frame: pd.DataFrame, metric: str) -> float:
    """ROC-AUC (``roc_auc``) or average precision (``pr_auc``) on a processed frame with ``Churn``.

    Raises:
        ValueError: ``Churn`` holds a single class, so the metric is undefined.
    """
    churn = _churn_probability(model, _features(frame))
    score = roc_auc_score if metric == "roc_auc" else average_precision_score
    return float(score(frame[TARGET_COLUMN], churn))


def quality_check(
    metric: str,
    value: float,
    gate: GateConfig,
    *,
    champion: float | None = None,
    baseline: float | None = None,
) -> CheckResult:
    """The challenger's gate metric against the bar it must reach (``value >= limit``).

    With a champion the bar is the champion's metric + ``gate.margin``; without one it is the
    higher of ``gate.min_auc`` and the baseline's metric (when given).
    """
    if champion is not None:
        limit = champion + gate.margin
        bar = f"the champion's {champion:.4f} + margin {gate.margin:.4f}"
    elif baseline is not None and baseline > gate.min_auc:
        limit, bar = (
            baseline,
            f"the logistic baseline's {baseline:.4f} (gate.min_auc {gate.min_auc:.4f})",
        )
    else:
        limit, bar = gate.min_auc, f"gate.min_auc {gate.min_auc:.4f}"
        bar += "" if baseline is None else f" (logistic baseline {baseline:.4f})"
    passed = value >= limit
    detail = f"{metric} {value:.4f} {'>=' if passed else '<'} {bar}"
    return CheckResult(name=QUALITY, passed=passed, value=value, limit=limit, detail=detail)


def behaviour_suite(model: ChurnModel, frame: pd.DataFrame, gate: GateConfig) -> list[CheckResult]:
    """Run the schema, gender-invariance and contract-direction checks, in that order.

    When the schema check fails the other two cannot run; they are reported as failed ("not
    run") so the suite never raises and always returns three results.
    """
    schema = schema_check(model, frame)
    if not schema.passed:
        skipped = f"not run: the schema check failed ({schema.detail})"
        return [
            schema,
            CheckResult(
                name=INVARIANCE_GENDER,
                passed=False,
                value=0.0,
                limit=gate.max_invariance_delta,
                detail=skipped,
            ),
            CheckResult(
                name=DIRECTIONAL_CONTRACT,
                passed=False,
                value=0.0,
                limit=MIN_LOWERED_SHARE,
                detail=skipped,
            ),
        ]
    return [
        schema,
        invariance_gender(model, frame, gate.max_invariance_delta),
        directional_contract(model, frame),
    ]


__all__ = [
    "DIRECTIONAL_CONTRACT",
    "INVARIANCE_GENDER",
    "MIN_LOWERED_SHARE",
    "QUALITY",
    "SCHEMA",
    "CheckResult",
    "ChurnModel",
    "behaviour_suite",
    "directional_contract",
    "gate_metric",
    "invariance_gender",
    "quality_check",
    "schema_check",
]
