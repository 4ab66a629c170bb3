"""Experiment statistics: DeLong against first principles, error rates on simulated feedback."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray
from scipy import stats
from sklearn.metrics import roc_auc_score

from churnguard.monitoring.experiment import (
    ExperimentReport,
    _bootstrap_auc,
    compare_variants,
    delong,
)
from churnguard.monitoring.reference import MonitoringInputError

pytestmark = pytest.mark.unit

#: Noise on the churn signal seen by a model: more noise, lower AUC (about 0.80 at 0.8).
EQUAL_NOISE = 0.8
WORSE_NOISE, BETTER_NOISE = 1.0, 0.4
THRESHOLD = 0.35


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def _probabilities(
    rng: np.random.Generator, signal: NDArray[np.float64], noise: float
) -> NDArray[np.float64]:
    """A logistic model that sees the churn signal through Gaussian noise."""
    seen = (signal + rng.normal(0.0, noise, signal.size)) / math.sqrt(1 + noise**2)
    return _sigmoid(-1.1 + 1.5 * seen)


def simulated_feedback(
    seed: int, n: int, noise: tuple[float, float], *, paired: bool
) -> pd.DataFrame:
    """Labeled predictions of a champion and a challenger (noise = their blur of the signal).

    Paired: both variants score the same n customers (shadow); unpaired: n customers each (A/B).
    """
    rng = np.random.default_rng(seed)
    parts = []
    shared = rng.normal(size=n)
    shared_actual = rng.random(n) < _sigmoid(-1.3 + 2.0 * shared)
    for variant, variant_noise in zip(("champion", "challenger"), noise, strict=True):
        signal = shared if paired or variant == "champion" else rng.normal(size=n)
        actual = (
            shared_actual if signal is shared else rng.random(n) < _sigmoid(-1.3 + 2.0 * signal)
        )
        probability = _probabilities(rng, signal, variant_noise)
        keys = [f"req-{i}" if paired else f"{variant}-{i}" for i in range(n)]
        parts.append(
            pd.DataFrame(
                {
                    "variant": variant,
                    "request_key": keys,
                    "churn_probability": probability,
                    "churn": probability >= THRESHOLD,
                    "actual": actual.astype(int),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _mann_whitney_delong(
    scores: NDArray[np.float64], actual: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """DeLong et al. (1988) by definition: every churner against every non-churner, O(m n)."""
    churners, others = scores[:, actual], scores[:, ~actual]
    kernel = (churners[:, :, None] > others[:, None, :]) + 0.5 * (
        churners[:, :, None] == others[:, None, :]
    )
    v10, v01 = kernel.mean(axis=2), kernel.mean(axis=1)
    m, n = churners.shape[1], others.shape[1]
    s10 = (v10 - v10.mean(1, keepdims=True)) @ (v10 - v10.mean(1, keepdims=True)).T / (m - 1)
    s01 = (v01 - v01.mean(1, keepdims=True)) @ (v01 - v01.mean(1, keepdims=True)).T / (n - 1)
    return kernel.mean(axis=(1, 2)), s10 / m + s01 / n


def test_delong_equals_the_mann_whitney_structural_components_with_ties() -> None:
    rng = np.random.default_rng(3)
    actual = rng.random(150) < 0.3
    scores = np.vstack(
        [
            np.round(rng.random(150) + 0.3 * actual, 1),  # heavy ties
            rng.random(150) + 0.6 * actual,
            rng.random(150),
        ]
    )
    auc, cov = delong(scores, actual)
    expected_auc, expected_cov = _mann_whitney_delong(scores, actual)
    np.testing.assert_allclose(auc, expected_auc, rtol=1e-12)
    np.testing.assert_allclose(auc, [roc_auc_score(actual, s) for s in scores], rtol=1e-12)
    np.testing.assert_allclose(cov, expected_cov, rtol=1e-10, atol=1e-15)


def test_paired_p_value_follows_from_the_delong_covariance() -> None:
    labeled = simulated_feedback(5, 120, (EQUAL_NOISE, 0.6), paired=True)
    report = compare_variants(labeled, paired=True, n_bootstrap=0)
    rows = labeled.pivot(index="request_key", columns="variant")
    scores = rows["churn_probability"][["champion", "challenger"]].to_numpy().T
    auc, cov = _mann_whitney_delong(scores, rows["actual"]["champion"].to_numpy(dtype=bool))
    z = (auc[1] - auc[0]) / math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert report.auc_difference.estimate == pytest.approx(auc[1] - auc[0], rel=1e-12)
    assert report.auc_difference.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    assert report.champion.roc_auc == pytest.approx(auc[0], rel=1e-12)


@pytest.mark.parametrize("paired", [True, False])
def test_delong_interval_agrees_with_the_bootstrap(paired: bool) -> None:
    labeled = simulated_feedback(11, 800, (EQUAL_NOISE, 0.6), paired=paired)
    report = compare_variants(labeled, paired=paired, n_bootstrap=2000, seed=1)
    delong_ci, boot_ci = report.auc_difference.ci, report.auc_difference_bootstrap_ci
    assert boot_ci is not None
    width = delong_ci.upper - delong_ci.lower
    assert (boot_ci.upper - boot_ci.lower) == pytest.approx(width, rel=0.15)
    assert (boot_ci.upper + boot_ci.lower) / 2 == pytest.approx(
        report.auc_difference.estimate, abs=0.1 * width
    )


def test_bootstrap_weights_give_the_auc_of_the_resampled_rows() -> None:
    rng = np.random.default_rng(8)
    actual = rng.random(60) < 0.4
    probability = np.round(rng.random(60) * 0.7 + 0.3 * actual, 2)
    counts = rng.multinomial(60, np.full(60, 1 / 60), size=5).astype(float)
    aucs = _bootstrap_auc(probability, actual, counts)
    expected = [
        roc_auc_score(np.repeat(actual, c.astype(int)), np.repeat(probability, c.astype(int)))
        for c in counts
    ]
    np.testing.assert_allclose(aucs, expected, rtol=1e-12)


@pytest.mark.parametrize("paired", [True, False])
def test_a_truly_better_challenger_is_promoted(paired: bool) -> None:
    seeds = range(40)
    reports = [
        compare_variants(
            simulated_feedback(
                seed, 800 if paired else 1200, (WORSE_NOISE, BETTER_NOISE), paired=paired
            ),
            paired=paired,
            n_bootstrap=200,
            seed=seed,
        )
        for seed in seeds
    ]
    promoted = [r for r in reports if r.recommendation == "promote"]
    assert len(promoted) >= 0.9 * len(seeds)
    assert all(r.auc_difference.p_value < 0.05 for r in promoted)
    assert all(r.challenger.roc_auc > r.champion.roc_auc for r in reports)


@pytest.mark.parametrize("paired", [True, False])
def test_equally_good_variants_are_not_declared_better(paired: bool) -> None:
    # Without the bootstrap veto: the DeLong rule alone must hold the error rate.
    seeds = range(120)
    recommendations = [
        compare_variants(
            simulated_feedback(seed, 400, (EQUAL_NOISE, EQUAL_NOISE), paired=paired),
            paired=paired,
            n_bootstrap=0,
        ).recommendation
        for seed in seeds
    ]
    assert recommendations.count("promote") <= 0.05 * len(seeds)
    assert recommendations.count("inconclusive") >= 0.85 * len(seeds)


def test_a_better_champion_is_kept() -> None:
    labeled = simulated_feedback(2, 800, (BETTER_NOISE, WORSE_NOISE), paired=True)
    report = compare_variants(labeled, paired=True, n_bootstrap=200)
    assert report.recommendation == "keep"
    assert report.auc_difference.ci.upper < 0
    assert "champion" in report.reason


def test_a_challenger_with_better_auc_but_much_lower_recall_is_kept() -> None:
    labeled = simulated_feedback(4, 800, (WORSE_NOISE, BETTER_NOISE), paired=True)
    challenger = labeled["variant"] == "challenger"
    labeled.loc[challenger, "churn"] = labeled.loc[challenger, "churn_probability"] >= 0.8
    report = compare_variants(labeled, paired=True, n_bootstrap=200)
    assert report.auc_difference.ci.lower > 0
    assert report.recommendation == "keep"
    assert report.recall_difference.estimate < 0
    assert report.recall_difference.p_value < 0.05
    assert "recall" in report.reason


def test_mcnemar_uses_only_the_discordant_churners() -> None:
    n = 40
    actual = np.array([1] * 20 + [0] * 20)
    champion = np.array([1] * 10 + [0] * 10 + [0] * 20, dtype=bool)
    challenger = champion.copy()
    challenger[10:19] = True  # challenger catches 9 churners the champion missed
    challenger[0] = False  # and misses 1 it caught
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "variant": ["champion"] * n + ["challenger"] * n,
            "request_key": [f"r{i}" for i in range(n)] * 2,
            "churn_probability": np.concatenate([rng.random(n), rng.random(n)]),
            "churn": np.concatenate([champion, challenger]),
            "actual": np.concatenate([actual, actual]),
        }
    )
    report = compare_variants(frame, paired=True, n_bootstrap=0)
    # Exact two-sided binomial on 9 of 10 discordant pairs: 2 * (1 + 10) / 2**10.
    assert report.recall_difference.p_value == pytest.approx(22 / 1024)
    assert report.recall_difference.estimate == pytest.approx(8 / 20)
    half = 1.959964 * math.sqrt((10 - 8**2 / 20) / 20**2)  # paired Wald interval
    assert report.recall_difference.ci.lower == pytest.approx(8 / 20 - half, rel=1e-5)
    assert report.recall_difference.ci.upper == pytest.approx(8 / 20 + half, rel=1e-5)
    assert report.challenger.recall == pytest.approx(18 / 20)
    assert "unpaired" in (report.precision_difference.test if report.precision_difference else "")


def test_unpaired_precision_and_recall_use_the_two_proportion_z_test() -> None:
    labeled = simulated_feedback(6, 400, (EQUAL_NOISE, 0.6), paired=False)
    report = compare_variants(labeled, paired=False, n_bootstrap=0)
    tested = report.precision_difference
    assert tested is not None
    k_a, n_a = report.champion.precision, report.champion.predicted_positives
    k_b, n_b = report.challenger.precision, report.challenger.predicted_positives
    assert k_a is not None
    assert k_b is not None
    pooled = (k_a * n_a + k_b * n_b) / (n_a + n_b)
    z = (k_b - k_a) / math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    assert tested.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    assert tested.estimate == pytest.approx(k_b - k_a)


def test_more_labels_narrow_the_interval_and_shrink_the_detectable_effect() -> None:
    small, large = (
        compare_variants(
            simulated_feedback(9, n, (EQUAL_NOISE, 0.7), paired=True), paired=True, n_bootstrap=0
        )
        for n in (300, 3000)
    )
    assert large.auc_difference.ci.upper - large.auc_difference.ci.lower < 0.5 * (
        small.auc_difference.ci.upper - small.auc_difference.ci.lower
    )
    assert large.sample_size.detectable_effect_now < small.sample_size.detectable_effect_now


def test_labels_needed_follow_the_formula_and_fall_as_the_effect_grows() -> None:
    labeled = simulated_feedback(10, 600, (EQUAL_NOISE, 0.7), paired=False)
    needed = [
        compare_variants(labeled, paired=False, n_bootstrap=0, min_detectable_effect=mde)
        for mde in (0.01, 0.02, 0.05, 0.2)
    ]
    counts = [r.sample_size.labels_needed for r in needed]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] > counts[-1]
    report = needed[1]
    se = (report.auc_difference.ci.upper - report.auc_difference.ci.lower) / (2 * 1.959964)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert report.sample_size.labels_now == 1200
    assert report.sample_size.labels_needed == pytest.approx(
        1200 * z**2 * se**2 / 0.02**2, rel=1e-4
    )
    assert report.sample_size.additional_labels_needed == max(0, counts[1] - 1200)
    assert report.sample_size.detectable_effect_now == pytest.approx(z * se, rel=1e-6)
    assert needed[-1].sample_size.additional_labels_needed == 0  # 0.2 is visible already


def test_paired_rows_without_a_partner_are_dropped_and_counted() -> None:
    labeled = simulated_feedback(12, 200, (EQUAL_NOISE, 0.7), paired=True)
    lonely = labeled.drop(index=labeled.index[(labeled["variant"] == "challenger")][:7])
    report = compare_variants(lonely, paired=True, n_bootstrap=50)
    assert report.unmatched_rows == 7
    assert report.champion.n == report.challenger.n == 193
    assert ExperimentReport.model_validate_json(report.model_dump_json()) == report


def test_precision_is_none_when_a_variant_predicts_no_churner() -> None:
    labeled = simulated_feedback(13, 200, (EQUAL_NOISE, 0.7), paired=False)
    labeled.loc[labeled["variant"] == "challenger", "churn"] = False
    report = compare_variants(labeled, paired=False, n_bootstrap=0)
    assert report.challenger.precision is None
    assert report.precision_difference is None
    assert report.challenger.recall == 0


def _broken(change: str) -> pd.DataFrame:
    labeled = simulated_feedback(14, 100, (EQUAL_NOISE, 0.7), paired=True)
    challenger = labeled["variant"] == "challenger"
    if change == "missing column":
        return labeled.drop(columns="request_key")
    if change == "unknown variant":
        labeled.loc[labeled.index[0], "variant"] = "canary"
    elif change == "one variant":
        return labeled[~challenger]
    elif change == "single class":
        labeled.loc[challenger, "actual"] = 0
        return labeled[challenger | (labeled["actual"] == 0)]
    elif change == "too few labels":
        return labeled[labeled["request_key"].isin([f"req-{i}" for i in range(29)])]
    elif change == "probability out of range":
        labeled.loc[labeled.index[3], "churn_probability"] = 1.5
    elif change == "actual not binary":
        labeled["actual"] = labeled["actual"].astype(float) * 2
    elif change == "scored twice":
        return pd.concat([labeled, labeled.iloc[[0]]], ignore_index=True)
    elif change == "labels disagree":
        first = labeled.index[challenger][0]
        labeled.loc[first, "actual"] = 1 - labeled.loc[first, "actual"]
    return labeled


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing column", "lacks the column"),
        ("unknown variant", "unknown variant"),
        ("one variant", "no labeled predictions of the challenger"),
        ("single class", "0 churner"),
        ("too few labels", "at least 30"),
        ("probability out of range", "outside [0, 1]"),
        ("actual not binary", "'actual' must hold booleans"),
        ("scored twice", "more than once"),
        ("labels disagree", "different label"),
    ],
)
def test_unusable_feedback_is_rejected_with_a_clear_error(change: str, message: str) -> None:
    with pytest.raises(MonitoringInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        compare_variants(_broken(change), paired=True, n_bootstrap=0)


def test_a_missing_variant_is_rejected_in_unpaired_mode_too() -> None:
    labeled = simulated_feedback(15, 100, (EQUAL_NOISE, 0.7), paired=False)
    with pytest.raises(MonitoringInputError, match="of the challenger"):
        compare_variants(labeled[labeled["variant"] == "champion"], paired=False)


@pytest.mark.parametrize(
    "settings",
    [
        {"alpha": 0.0},
        {"power": 1.0},
        {"min_detectable_effect": -0.01},
        {"n_bootstrap": -1},
        {"n_bootstrap": True},
    ],
)
def test_invalid_parameters_are_rejected(settings: dict[str, float]) -> None:
    labeled = simulated_feedback(16, 100, (EQUAL_NOISE, 0.7), paired=True)
    with pytest.raises(MonitoringInputError, match="must"):
        compare_variants(labeled, paired=True, **settings)  # type: ignore[arg-type]
