"""The statistics of a model-version experiment: is the challenger better than the champion?

`compare_variants` takes the labeled predictions of both variants and returns an
`ExperimentReport`: per-variant ROC-AUC, precision and recall with confidence intervals, the
AUC difference (challenger - champion) tested with DeLong's test and cross-checked with a
bootstrap, precision and recall differences, the labels still needed to detect the minimum
effect, and a recommendation. In shadow mode both variants scored the same requests, so the
comparison is paired on ``request_key`` (correlated ROC curves, McNemar on the decisions); in
A/B mode the variants saw different customers and the tests are unpaired. The formulas and the
decision rule are explained in ``docs/experiments.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict
from scipy import stats

from churnguard.monitoring.quality import label_flags
from churnguard.monitoring.reference import (
    MonitoringInputError,
    probability_values,
    require_columns,
)

Floats = NDArray[np.float64]
Flags = NDArray[np.bool_]

VARIANTS: Final = ("champion", "challenger")
EXPERIMENT_COLUMNS: Final = ("variant", "request_key", "churn_probability", "churn", "actual")
#: Labels a variant needs before it is compared (normal approximations need some).
MIN_LABELS_PER_VARIANT: Final = 30
#: Rows x resamples handled at once by the bootstrap (bounds its memory to ~50 MB).
_BOOTSTRAP_CELLS: Final = 2_000_000

Recommendation = Literal["promote", "keep", "inconclusive"]


class _ExperimentModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Interval(_ExperimentModel):
    """A two-sided confidence interval at level ``1 - alpha``."""

    lower: float
    upper: float


class VariantMetrics(_ExperimentModel):
    """Quality of one variant on its labeled predictions.

    Attributes:
        variant: ``champion`` or ``challenger``.
        n: Labeled predictions compared (in paired mode: the matched requests).
        positives: Of which churned.
        predicted_positives: Of which the variant predicted to churn (at its own threshold).
        roc_auc: Area under the ROC curve; ``roc_auc_ci`` from DeLong's variance.
        precision: Share of the predicted churners that churned (None when none was predicted);
            ``precision_ci`` is Wilson's interval.
        recall: Share of the churners predicted to churn; ``recall_ci`` is Wilson's interval.
    """

    variant: str
    n: int
    positives: int
    predicted_positives: int
    roc_auc: float
    roc_auc_ci: Interval
    precision: float | None
    precision_ci: Interval | None
    recall: float
    recall_ci: Interval


class DifferenceTest(_ExperimentModel):
    """A difference challenger - champion, its confidence interval and two-sided p-value."""

    estimate: float
    ci: Interval
    p_value: float
    test: str


class SampleSize(_ExperimentModel):
    """Labels needed to detect an AUC difference of ``min_detectable_effect``.

    ``labels_*`` count labeled requests: pairs in paired mode (one label serves both variants),
    champion + challenger at the current split in unpaired mode.

    Attributes:
        min_detectable_effect: The AUC difference to detect.
        labels_now: Labeled requests compared.
        labels_needed: Labeled requests that give a two-sided test at ``alpha`` the requested
            power: ``labels_now * (z_{1-alpha/2} + z_power)^2 * var(dAUC) / mde^2``.
        additional_labels_needed: ``max(0, labels_needed - labels_now)``.
        detectable_effect_now: The AUC difference the labels at hand detect with that power.
    """

    min_detectable_effect: float
    labels_now: int
    labels_needed: int
    additional_labels_needed: int
    detectable_effect_now: float


class ExperimentReport(_ExperimentModel):
    """The comparison of the challenger with the champion, and what to do about it.

    Attributes:
        paired: True when both variants scored the same requests (shadow mode).
        alpha: Significance level of every test and ``1 - alpha`` the level of every interval.
        power: Power used for the sample size.
        unmatched_rows: Paired mode: rows dropped because the other variant has no labeled
            prediction for that request; 0 in unpaired mode.
        champion: Metrics of the champion.
        challenger: Metrics of the challenger.
        auc_difference: DeLong's test of challenger AUC - champion AUC.
        auc_difference_bootstrap_ci: Percentile bootstrap interval of the same difference (None
            when ``n_bootstrap`` was 0).
        precision_difference: None when a variant predicted no churner.
        recall_difference: McNemar (paired) or two-proportion z-test (unpaired).
        sample_size: Labels still needed for the minimum detectable effect.
        recommendation: ``promote``, ``keep`` or ``inconclusive``.
        reason: One sentence saying why.
    """

    paired: bool
    alpha: float
    power: float
    unmatched_rows: int
    champion: VariantMetrics
    challenger: VariantMetrics
    auc_difference: DifferenceTest
    auc_difference_bootstrap_ci: Interval | None
    precision_difference: DifferenceTest | None
    recall_difference: DifferenceTest
    sample_size: SampleSize
    recommendation: Recommendation
    reason: str


@dataclass(frozen=True)
class _Arm:
    """One variant's labeled predictions, aligned across variants in paired mode."""

    probability: Floats
    decision: Flags
    actual: Flags


def _validated(labeled: object) -> pd.DataFrame:
    frame = require_columns(labeled, EXPERIMENT_COLUMNS, "the labeled predictions")
    if frame["variant"].isna().any() or frame["request_key"].isna().any():
        raise MonitoringInputError(
            "columns 'variant' and 'request_key' must not have missing values"
        )
    variant = frame["variant"].astype(str)
    unknown = sorted(set(variant) - set(VARIANTS))
    if unknown:
        raise MonitoringInputError(f"unknown variant(s) {unknown}; expected {list(VARIANTS)}")
    absent = [name for name in VARIANTS if name not in set(variant)]
    if absent:
        raise MonitoringInputError(
            f"no labeled predictions of the {' and '.join(absent)}; an experiment compares "
            "both variants: run it in shadow or ab mode and wait for feedback labels"
        )
    probability = frame["churn_probability"]
    if not pd.api.types.is_numeric_dtype(probability) or pd.api.types.is_bool_dtype(probability):
        raise MonitoringInputError(
            f"column 'churn_probability' must hold numbers in [0, 1], got dtype {probability.dtype}"
        )
    values = probability.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.DataFrame(
        {
            "variant": variant.to_numpy(),
            "request_key": frame["request_key"].astype(str).to_numpy(),
            "churn_probability": probability_values(values, "column 'churn_probability'")
            if len(frame)
            else values,
            "churn": label_flags(frame, "churn"),
            "actual": label_flags(frame, "actual"),
        }
    )


def _arm(rows: pd.DataFrame) -> _Arm:
    return _Arm(
        rows["churn_probability"].to_numpy(dtype=np.float64),
        rows["churn"].to_numpy(dtype=bool),
        rows["actual"].to_numpy(dtype=bool),
    )


def _paired_arms(frame: pd.DataFrame) -> tuple[_Arm, _Arm, int]:
    """Champion and challenger rows aligned on request_key, and the rows left without a partner."""
    by_variant = {name: frame[frame["variant"] == name] for name in VARIANTS}
    for name, rows in by_variant.items():
        repeated = rows["request_key"][rows["request_key"].duplicated()]
        if len(repeated):
            raise MonitoringInputError(
                f"paired comparison: request_key {repeated.iloc[0]!r} appears more than once for "
                f"the {name}; each request must be scored once per variant"
            )
    merged = by_variant["champion"].merge(
        by_variant["challenger"], on="request_key", suffixes=("_a", "_b"), validate="one_to_one"
    )
    if (merged["actual_a"] != merged["actual_b"]).any():
        key = merged.loc[merged["actual_a"] != merged["actual_b"], "request_key"].iloc[0]
        raise MonitoringInputError(
            f"paired comparison: request_key {key!r} has a different label for each variant"
        )
    arms = tuple(merged[[f"{c}_{s}" for c in EXPERIMENT_COLUMNS[2:]]] for s in ("a", "b"))
    champion, challenger = (_arm(a.set_axis(list(EXPERIMENT_COLUMNS[2:]), axis=1)) for a in arms)
    return champion, challenger, len(frame) - 2 * len(merged)


def _check_arm(name: str, arm: _Arm, paired: bool) -> None:
    n, positives = len(arm.actual), int(arm.actual.sum())
    what = "requests scored by both variants" if paired else f"labeled predictions of the {name}"
    if n < MIN_LABELS_PER_VARIANT:
        raise MonitoringInputError(
            f"only {n} {what}; at least {MIN_LABELS_PER_VARIANT} are needed: wait for more "
            "feedback labels"
        )
    if min(positives, n - positives) < 2:
        raise MonitoringInputError(
            f"the {name} has {positives} churner(s) among {n} labels: the AUC needs at least 2 "
            "churners and 2 non-churners; wait for more feedback labels"
        )


def delong(scores: Floats, actual: Flags) -> tuple[Floats, Floats]:
    """ROC-AUCs of k score vectors on the same rows and their DeLong covariance.

    The fast algorithm of Sun & Xu (2014): the structural components come from midranks, in
    O(k n log n) rather than the O(k m n) of comparing every churner with every non-churner.

    Args:
        scores: Shape ``(k, n)``: one row of churn probabilities per model.
        actual: Shape ``(n,)``: the truth (both classes present).

    Returns:
        The k AUCs and their ``(k, k)`` covariance matrix.
    """
    ordered = np.concatenate([scores[:, actual], scores[:, ~actual]], axis=1)
    m, n = int(actual.sum()), int((~actual).sum())
    combined = stats.rankdata(ordered, axis=1)
    within_pos = stats.rankdata(ordered[:, :m], axis=1)
    within_neg = stats.rankdata(ordered[:, m:], axis=1)
    auc = (combined[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v10 = (combined[:, :m] - within_pos) / n  # per churner: share of non-churners ranked below
    v01 = 1.0 - (combined[:, m:] - within_neg) / m  # per non-churner: share of churners above
    cov = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return auc, cov


def _auc_variances(
    champion: _Arm, challenger: _Arm, paired: bool
) -> tuple[Floats, float, float, float]:
    """Both AUCs, their DeLong variances and the variance of their difference."""
    if paired:
        scores = np.vstack([champion.probability, challenger.probability])
        aucs, cov = delong(scores, champion.actual)
        var_diff = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
        return aucs, float(cov[0, 0]), float(cov[1, 1]), float(var_diff)
    (auc_a,), cov_a = delong(champion.probability[None, :], champion.actual)
    (auc_b,), cov_b = delong(challenger.probability[None, :], challenger.actual)
    var_a, var_b = float(cov_a[0, 0]), float(cov_b[0, 0])
    return np.array([auc_a, auc_b]), var_a, var_b, var_a + var_b


def _bootstrap_auc(probability: Floats, actual: Flags, weights: Floats) -> Floats:
    """AUC under each row of bootstrap ``weights`` (resample counts), in O(resamples x rows)."""
    levels, level = np.unique(probability, return_inverse=True)
    resamples, k = weights.shape[0], len(levels)
    offsets = np.arange(resamples)[:, None] * k

    def mass(mask: Flags) -> Floats:
        index = (offsets + level[mask][None, :]).ravel()
        summed = np.bincount(index, weights=weights[:, mask].ravel(), minlength=resamples * k)
        return np.asarray(summed, dtype=np.float64).reshape(resamples, k)

    negatives, positives = mass(~actual), mass(actual)
    credit = np.cumsum(negatives, axis=1) - 0.5 * negatives  # below, plus half the ties
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((positives * credit).sum(axis=1) / pairs, dtype=np.float64)


def _resample_weights(rng: np.random.Generator, resamples: int, n: int) -> Floats:
    picks = rng.integers(0, n, size=(resamples, n)) + np.arange(resamples)[:, None] * n
    return np.bincount(picks.ravel(), minlength=resamples * n).reshape(resamples, n).astype(float)


def _bootstrap_difference(
    champion: _Arm, challenger: _Arm, *, paired: bool, n_bootstrap: int, seed: int, alpha: float
) -> Interval | None:
    """Percentile interval of AUC(challenger) - AUC(champion); pairs are resampled jointly."""
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOTSTRAP_CELLS // max(len(champion.actual), len(challenger.actual)))
    differences: list[Floats] = []
    for start in range(0, n_bootstrap, chunk):
        size = min(chunk, n_bootstrap - start)
        w_a = _resample_weights(rng, size, len(champion.actual))
        w_b = w_a if paired else _resample_weights(rng, size, len(challenger.actual))
        differences.append(
            _bootstrap_auc(challenger.probability, challenger.actual, w_b)
            - _bootstrap_auc(champion.probability, champion.actual, w_a)
        )
    finite = np.concatenate(differences)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return None
    lower, upper = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return Interval(lower=float(lower), upper=float(upper))


def _normal_test(estimate: float, variance: float, alpha: float, test: str) -> DifferenceTest:
    se = math.sqrt(max(variance, 0.0))
    half = float(stats.norm.ppf(1 - alpha / 2)) * se
    if se > 0:
        p_value = float(2 * stats.norm.sf(abs(estimate) / se))
    else:  # identical decisions or scores: no evidence of a difference unless one is certain
        p_value = 1.0 if estimate == 0 else 0.0
    ci = Interval(lower=estimate - half, upper=estimate + half)
    return DifferenceTest(estimate=estimate, ci=ci, p_value=p_value, test=test)


def _wilson(successes: int, trials: int, alpha: float) -> Interval:
    z = float(stats.norm.ppf(1 - alpha / 2))
    share, spread = successes / trials, z**2 / trials
    centre = (share + spread / 2) / (1 + spread)
    half = z * math.sqrt(share * (1 - share) / trials + spread / (4 * trials)) / (1 + spread)
    return Interval(lower=max(centre - half, 0.0), upper=min(centre + half, 1.0))


def _two_proportions(
    hits: tuple[int, int], trials: tuple[int, int], alpha: float, test: str
) -> DifferenceTest:
    """Two-proportion z-test (pooled variance) with an unpooled Wald interval; trials > 0."""
    (k_a, k_b), (n_a, n_b) = hits, trials
    p_a, p_b, pooled = k_a / n_a, k_b / n_b, (k_a + k_b) / (n_a + n_b)
    estimate = p_b - p_a
    tested = _normal_test(estimate, pooled * (1 - pooled) * (1 / n_a + 1 / n_b), alpha, test)
    wald = _normal_test(estimate, p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b, alpha, test)
    return tested.model_copy(update={"ci": wald.ci})


def _counts(arm: _Arm) -> tuple[int, int, int]:
    """Churners caught, churners predicted, actual churners."""
    return (
        int((arm.decision & arm.actual).sum()),
        int(arm.decision.sum()),
        int(arm.actual.sum()),
    )


def _mcnemar_recall(champion: _Arm, challenger: _Arm, alpha: float) -> DifferenceTest:
    """Exact McNemar test on the churners' paired decisions, with a paired Wald interval."""
    churners = champion.actual
    lost = int((champion.decision & ~challenger.decision & churners).sum())
    gained = int((challenger.decision & ~champion.decision & churners).sum())
    m = int(churners.sum())
    estimate = (gained - lost) / m
    variance = ((gained + lost) - (gained - lost) ** 2 / m) / m**2
    normal = _normal_test(estimate, variance, alpha, "McNemar exact (paired decisions)")
    discordant = gained + lost
    p_value = float(stats.binomtest(gained, discordant).pvalue) if discordant else 1.0
    return normal.model_copy(update={"p_value": p_value})


def _variant_metrics(
    name: str, arm: _Arm, auc: float, variance: float, alpha: float
) -> VariantMetrics:
    n, positives = len(arm.actual), int(arm.actual.sum())
    predicted, caught = int(arm.decision.sum()), int((arm.decision & arm.actual).sum())
    ci = _normal_test(auc, variance, alpha, "DeLong").ci
    return VariantMetrics(
        variant=name,
        n=n,
        positives=positives,
        predicted_positives=predicted,
        roc_auc=auc,
        roc_auc_ci=Interval(lower=max(ci.lower, 0.0), upper=min(ci.upper, 1.0)),
        precision=caught / predicted if predicted else None,
        precision_ci=_wilson(caught, predicted, alpha) if predicted else None,
        recall=caught / positives,
        recall_ci=_wilson(caught, positives, alpha),
    )


def _sample_size(
    variance: float, labels_now: int, mde: float, alpha: float, power: float
) -> SampleSize:
    z = float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))
    needed = math.ceil(labels_now * z**2 * variance / mde**2)
    return SampleSize(
        min_detectable_effect=mde,
        labels_now=labels_now,
        labels_needed=needed,
        additional_labels_needed=max(0, needed - labels_now),
        detectable_effect_now=z * math.sqrt(max(variance, 0.0)),
    )


def _recommend(
    auc: DifferenceTest, bootstrap: Interval | None, recall: DifferenceTest, alpha: float
) -> tuple[Recommendation, str]:
    if auc.p_value < alpha and auc.ci.upper < 0:
        return "keep", f"the champion's AUC is significantly higher (p={auc.p_value:.3g})"
    if recall.p_value < alpha and recall.estimate < 0:
        return "keep", (
            f"the challenger's recall is significantly lower ({recall.estimate:+.3f}, "
            f"p={recall.p_value:.3g}); check its threshold"
        )
    if auc.p_value < alpha and auc.ci.lower > 0:
        found = (
            f"the challenger's AUC is significantly higher ({auc.estimate:+.4f}, "
            f"p={auc.p_value:.3g})"
        )
        if bootstrap is None or bootstrap.lower > 0:
            return "promote", found
        return "inconclusive", f"{found} but the bootstrap interval includes 0"
    return "inconclusive", "no significant difference in AUC"


def _labels_note(sample: SampleSize) -> str:
    mde = sample.min_detectable_effect
    if sample.additional_labels_needed:
        return f"; about {sample.additional_labels_needed} more labels are needed to detect {mde}"
    return (
        f"; the labels at hand detect {sample.detectable_effect_now:.3f}, so a difference of "
        f"{mde} or more is unlikely"
    )


def _check_parameters(mde: float, alpha: float, power: float, n_bootstrap: int) -> None:
    if not (0 < mde < 1 and 0 < alpha < 1 and 0 < power < 1):
        raise MonitoringInputError(
            f"min_detectable_effect, alpha and power must lie in (0, 1), got {mde!r}, "
            f"{alpha!r}, {power!r}"
        )
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap < 0:
        raise MonitoringInputError(f"n_bootstrap must be a whole number >= 0, got {n_bootstrap!r}")


def compare_variants(
    labeled: pd.DataFrame,
    *,
    paired: bool,
    min_detectable_effect: float = 0.02,
    alpha: float = 0.05,
    power: float = 0.8,
    n_bootstrap: int = 2000,
    seed: int = 0,
) -> ExperimentReport:
    """Compare the challenger with the champion on their labeled predictions.

    Args:
        labeled: One row per labeled prediction with `EXPERIMENT_COLUMNS`: variant (champion or
            challenger), request_key (the scored request row), churn_probability, churn (the
            variant's decision at its own threshold) and actual (the truth). Extra columns are
            ignored.
        paired: True in shadow mode: both variants scored the same requests, rows are matched on
            request_key (rows without a partner are dropped and counted). False in A/B mode.
        min_detectable_effect: AUC difference the sample size is computed for.
        alpha: Significance level; intervals are at ``1 - alpha``.
        power: Power of the test at ``min_detectable_effect`` for the sample size.
        n_bootstrap: Bootstrap resamples of the AUC difference (0 skips the cross-check).
        seed: Seed of the bootstrap.

    Returns:
        The report; ``promote`` needs a significantly higher challenger AUC (DeLong p < alpha,
        DeLong and bootstrap intervals above 0) and no significantly lower recall.

    Raises:
        MonitoringInputError: a column is missing or unusable, a variant is unknown or absent, a
            variant has fewer than `MIN_LABELS_PER_VARIANT` labels or fewer than 2 of a class,
            a paired request is scored twice or labeled differently, or a parameter is invalid.
    """
    _check_parameters(min_detectable_effect, alpha, power, n_bootstrap)
    frame = _validated(labeled)
    unmatched = 0
    if paired:
        champion, challenger, unmatched = _paired_arms(frame)
    else:
        champion, challenger = (_arm(frame[frame["variant"] == name]) for name in VARIANTS)
    _check_arm("champion", champion, paired)
    _check_arm("challenger", challenger, paired)
    aucs, var_a, var_b, var_diff = _auc_variances(champion, challenger, paired)
    labels_now = len(champion.actual) + (0 if paired else len(challenger.actual))
    auc = _normal_test(
        float(aucs[1] - aucs[0]),
        var_diff,
        alpha,
        "DeLong (paired, correlated ROC curves)" if paired else "DeLong (unpaired)",
    )
    bootstrap = (
        _bootstrap_difference(
            champion, challenger, paired=paired, n_bootstrap=n_bootstrap, seed=seed, alpha=alpha
        )
        if n_bootstrap
        else None
    )
    (caught_a, predicted_a, churners_a), (caught_b, predicted_b, churners_b) = (
        _counts(champion),
        _counts(challenger),
    )
    precision = (
        _two_proportions(
            (caught_a, caught_b),
            (predicted_a, predicted_b),
            alpha,
            "two-proportion z" + (" (unpaired: the predicted churners differ)" if paired else ""),
        )
        if predicted_a and predicted_b
        else None
    )
    recall = (
        _mcnemar_recall(champion, challenger, alpha)
        if paired
        else _two_proportions(
            (caught_a, caught_b), (churners_a, churners_b), alpha, "two-proportion z"
        )
    )
    recommendation, reason = _recommend(auc, bootstrap, recall, alpha)
    sample = _sample_size(float(var_diff), labels_now, min_detectable_effect, alpha, power)
    if recommendation == "inconclusive":
        reason += _labels_note(sample)
    return ExperimentReport(
        paired=paired,
        alpha=alpha,
        power=power,
        unmatched_rows=unmatched,
        champion=_variant_metrics("champion", champion, float(aucs[0]), var_a, alpha),
        challenger=_variant_metrics("challenger", challenger, float(aucs[1]), var_b, alpha),
        auc_difference=auc,
        auc_difference_bootstrap_ci=bootstrap,
        precision_difference=precision,
        recall_difference=recall,
        sample_size=sample,
        recommendation=recommendation,
        reason=reason,
    )


__all__ = [
    "EXPERIMENT_COLUMNS",
    "MIN_LABELS_PER_VARIANT",
    "VARIANTS",
    "DifferenceTest",
    "ExperimentReport",
    "Interval",
    "Recommendation",
    "SampleSize",
    "VariantMetrics",
    "compare_variants",
    "delong",
]
