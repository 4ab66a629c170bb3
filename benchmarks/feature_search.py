"""Do the declared features beat the baseline? LightGBM and logistic regression, three test weeks.

Simulates the reference size (5,000 cards, 10,000 terminals, 183 days from 2018-04-01, seed 0),
computes the feature declaration once, and compares the previous 19-feature declaration (the
handbook's 15 plus 4 extras) with the whole current one, under the handbook's protocol
(``baseline.split``: train 7 days, skip 7, test 7, known-compromised cards removed) for training
starts 2018-07-11, 07-25 and 08-08. Prints ROC AUC, average precision and card precision top-100
per start, model and feature set, next to the targets, plus what limits any model on each test week:
the share of test frauds that are scenario-2 frauds whose terminal has no fraud label known yet
(no label-based feature can see them) and the best CP@100 reachable with and without them.

    python benchmarks/feature_search.py [--seed 0] [--starts 2018-07-11 2018-07-25 2018-08-08]

Takes a few minutes (most of it fitting LightGBM 9 times on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fraudstream.feature_store import FEATURE_NAMES, compute_features
from fraudstream.simulator import SimulatorConfig, simulate
from fraudstream.training.estimators import build_estimator
from fraudstream.training.model_config import ModelConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline import card_precision_top_k, split

#: The declaration before this search: the handbook's 15 inputs and 4 extras.
BEFORE = list(FEATURE_NAMES[:19])
AFTER = list(FEATURE_NAMES)
#: The recommended LightGBM: the project's configured defaults (configs/config.yaml, ModelConfig),
#: built as training builds it.
RECOMMENDED = ModelConfig()
#: The parameters the comparison started from ("LightGBM-0").
LIGHTGBM_BEFORE: dict[str, object] = {
    "n_estimators": 500,
    "learning_rate": 0.03,
    "num_leaves": 15,
    "min_child_samples": 50,
    "deterministic": True,
    "force_row_wise": True,
    "random_state": 0,
    "n_jobs": 2,
    "verbose": -1,
}
TARGETS = (0.885, 0.70, 0.305)
STARTS = (date(2018, 7, 11), date(2018, 7, 25), date(2018, 8, 8))


@dataclass(frozen=True)
class Row:
    """One model's test-week figures."""

    start: date
    features: str
    model: str
    roc_auc: float
    average_precision: float
    card_precision: float


def _models(*, recommended: bool) -> dict[str, object]:
    models: dict[str, object] = {
        "LightGBM-0": LGBMClassifier(**LIGHTGBM_BEFORE),  # type: ignore[arg-type]
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
    }
    if recommended:
        models["LightGBM"] = build_estimator(
            "lightgbm", RECOMMENDED.lightgbm, "none", RECOMMENDED.seed
        )
    return models


def _score(model: object, train: pd.DataFrame, test: pd.DataFrame, inputs: list[str]) -> np.ndarray:
    model.fit(train[inputs], train["TX_FRAUD"])  # type: ignore[attr-defined]
    return model.predict_proba(test[inputs])[:, 1]  # type: ignore[attr-defined,no-any-return]


def unseen_terminal_frauds(frame: pd.DataFrame, test: pd.DataFrame) -> pd.Series:
    """Test scenario-2 frauds whose terminal has no scenario-2 fraud label known yet.

    A terminal is compromised for 28 days; a fraud there is visible to label-based features only
    once an earlier scenario-2 fraud at the terminal (within 28 days) has a known label.
    """
    frauds = frame.loc[
        frame["TX_FRAUD_SCENARIO"] == 2, ["TERMINAL_ID", "TX_DATETIME", "TX_LABEL_DATETIME"]
    ]
    by_terminal = dict(list(frauds.groupby("TERMINAL_ID")))
    unseen = pd.Series(False, index=test.index)
    for index, row in test[test["TX_FRAUD_SCENARIO"] == 2].iterrows():
        earlier = by_terminal[row["TERMINAL_ID"]]
        t = row["TX_DATETIME"]
        seen = (
            (earlier["TX_DATETIME"] < t)
            & (earlier["TX_DATETIME"] > t - pd.Timedelta(days=28))
            & (earlier["TX_LABEL_DATETIME"] <= t)
        )
        unseen[index] = not seen.any()
    return unseen


def limits(frame: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
    """What no label-based feature can see, and the best CP@100 with and without it."""
    rng = np.random.default_rng(0)
    fraud = test["TX_FRAUD"].to_numpy()
    unseen = unseen_terminal_frauds(frame, test).to_numpy()
    tie_break = rng.random(fraud.size) * 1e-3
    share = unseen.sum() / fraud.sum()
    return {
        "test_frauds": int(fraud.sum()),
        "unseen_share": float(share),
        "auc_if_unseen_random": float(1 - share / 2),
        "cp_perfect": card_precision_top_k(test, fraud + tie_break),
        "cp_all_but_unseen": card_precision_top_k(test, fraud * ~unseen + tie_break),
    }


def run(seed: int, starts: tuple[date, ...]) -> tuple[list[Row], dict[date, dict[str, float]]]:
    """Simulate, compute the features once, then fit and test every model on every start."""
    config = SimulatorConfig(seed=seed)
    transactions = simulate(config)
    began = time.perf_counter()
    features = compute_features(transactions)
    print(f"compute_features: {time.perf_counter() - began:.2f} s, {len(AFTER)} features")
    frame = transactions.merge(features.drop(columns="TX_AMOUNT"), on="TRANSACTION_ID")
    rows, context = [], {}
    for start in starts:
        train, test = split(frame, (start - config.start_date).days)
        context[start] = limits(frame, test)
        for label, inputs in (("before", BEFORE), ("after", AFTER)):
            for name, model in _models(recommended=label == "after").items():
                scores = _score(model, train, test, inputs)
                rows.append(
                    Row(
                        start,
                        f"{label} ({len(inputs)})",
                        name,
                        float(roc_auc_score(test["TX_FRAUD"], scores)),
                        float(average_precision_score(test["TX_FRAUD"], scores)),
                        card_precision_top_k(test, scores),
                    )
                )
    return rows, context


def main() -> None:
    """Print the comparison table and the limits of each test week."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="simulator seed")
    parser.add_argument(
        "--starts", nargs="+", type=date.fromisoformat, default=list(STARTS), help="train starts"
    )
    args = parser.parse_args()
    began = time.perf_counter()
    rows, context = run(args.seed, tuple(args.starts))
    auc, ap, cp = TARGETS
    print(f"\ntargets: AUC >= {auc}, AP >= {ap}, CP@100 >= {cp} (* = met)")
    print(f"{'train start':<12} {'features':<12} {'model':<9} {'AUC':>7} {'AP':>7} {'CP@100':>7}")
    for r in rows:
        marks = [
            f"{v:.3f}{'*' if v >= t else ' '}"
            for v, t in zip(
                (r.roc_auc, r.average_precision, r.card_precision), TARGETS, strict=True
            )
        ]
        print(
            f"{r.start!s:<12} {r.features:<12} {r.model:<9} {marks[0]:>7} {marks[1]:>7} {marks[2]:>7}"
        )
    print("\nwhat limits every model (test week of each start):")
    for start, c in context.items():
        print(
            f"{start}: {c['test_frauds']} test frauds, {c['unseen_share']:.1%} scenario-2 frauds "
            f"at a terminal with no fraud label known yet -> AUC ~{c['auc_if_unseen_random']:.3f} "
            f"if they rank at random; CP@100 perfect {c['cp_perfect']:.3f}, "
            f"all but those {c['cp_all_but_unseen']:.3f}"
        )
    print(f"\ntotal {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
