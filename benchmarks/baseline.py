"""The handbook's baseline models on fraudstream's simulated data, with the handbook's protocol.

Simulates the reference size (5,000 cards, 10,000 terminals, 183 days from 2018-04-01),
computes the 15 baseline inputs from the feature declaration, trains on the 7 days from
2018-07-25, skips a 7-day delay and tests on 2018-08-08 .. 08-14, with the cards known to be
compromised removed from each test day as the handbook does. Prints ROC AUC, average precision
and card precision top-100 of each model next to the handbook's published numbers.

    python benchmarks/baseline.py [--seed 0] [--json benchmarks/results/baseline.json]

The protocol code here is the benchmark's own; the product's training protocol and metrics
arrive with the model (training/).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from fraudstream.feature_store import compute_features
from fraudstream.simulator import SimulatorConfig, simulate
from fraudstream.transactions.summary import summarize

#: The handbook's 15 baseline inputs.
BASELINE_INPUTS = [
    "TX_AMOUNT",
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    *(f"CUSTOMER_ID_{kind}_{w}DAY_WINDOW" for w in (1, 7, 30) for kind in ("NB_TX", "AVG_AMOUNT")),
    *(f"TERMINAL_ID_{kind}_{w}DAY_WINDOW" for w in (1, 7, 30) for kind in ("NB_TX", "RISK")),
]
#: The handbook's published test-week results (AUC ROC, AP, CP@100).
PUBLISHED = {
    "logistic regression": (0.871, 0.606, 0.291),
    "decision tree, depth 2": (0.763, 0.496, 0.241),
    "random forest": (0.867, 0.658, 0.287),
}
TRAIN_START = date(2018, 7, 25)
TRAIN_DAYS = DELAY_DAYS = TEST_DAYS = 7
TOP_K = 100


@dataclass(frozen=True)
class Result:
    """One model's test-week figures."""

    model: str
    roc_auc: float
    average_precision: float
    card_precision_top_100: float
    fit_seconds: float


def _models(seed: int) -> dict[str, object]:
    return {
        "logistic regression": make_pipeline(
            StandardScaler(), LogisticRegression(random_state=seed)
        ),
        "decision tree, depth 2": make_pipeline(
            StandardScaler(), DecisionTreeClassifier(max_depth=2, random_state=seed)
        ),
        "random forest": make_pipeline(
            StandardScaler(), RandomForestClassifier(random_state=seed, n_jobs=-1)
        ),
    }


def split(frame: pd.DataFrame, start_day: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The handbook's train week and test week (known-compromised cards removed per test day)."""
    days = frame["TX_TIME_DAYS"]
    train = frame[(days >= start_day) & (days < start_day + TRAIN_DAYS)]
    known = set(train.loc[train["TX_FRAUD"] == 1, "CUSTOMER_ID"])
    test_days = []
    for day in range(TEST_DAYS):
        # Frauds of the delay period become known one day at a time, a week late.
        delay_day = frame[days == start_day + TRAIN_DAYS + day - 1]
        known |= set(delay_day.loc[delay_day["TX_FRAUD"] == 1, "CUSTOMER_ID"])
        test_day = frame[days == start_day + TRAIN_DAYS + DELAY_DAYS + day]
        test_days.append(test_day[~test_day["CUSTOMER_ID"].isin(known)])
    return train, pd.concat(test_days)


def card_precision_top_k(test: pd.DataFrame, scores: np.ndarray, k: int = TOP_K) -> float:
    """Mean over test days of the share of true frauds among the day's k highest-scored cards.

    A card's score on a day is its highest transaction score; cards found compromised on an
    earlier test day are left out of later days.
    """
    scored = test.assign(score=scores)
    detected: set[int] = set()
    precisions = []
    for _, day in scored.groupby("TX_TIME_DAYS", sort=True):
        cards = (
            day[~day["CUSTOMER_ID"].isin(detected)]
            .groupby("CUSTOMER_ID")[["score", "TX_FRAUD"]]
            .max()
        )
        top = cards.sort_values("score", ascending=False, kind="stable").head(k)
        found = top.index[top["TX_FRAUD"] == 1]
        detected |= set(found)
        precisions.append(len(found) / k)
    return float(np.mean(precisions))


def run(seed: int) -> tuple[list[Result], dict[str, object]]:
    """Simulate, compute features, train and test each baseline model."""
    started = time.perf_counter()
    transactions = simulate(SimulatorConfig(seed=seed))
    features = compute_features(transactions)
    frame = transactions.merge(features, on="TRANSACTION_ID", suffixes=("", "_feature"))
    if "TX_AMOUNT_feature" in frame:
        frame = frame.drop(columns="TX_AMOUNT_feature")
    prepared = time.perf_counter() - started
    start_day = (TRAIN_START - SimulatorConfig().start_date).days
    train, test = split(frame, start_day)
    results = []
    for name, model in _models(seed).items():
        fit_started = time.perf_counter()
        model.fit(train[BASELINE_INPUTS], train["TX_FRAUD"])  # type: ignore[attr-defined]
        fit_seconds = time.perf_counter() - fit_started
        scores = model.predict_proba(test[BASELINE_INPUTS])[:, 1]  # type: ignore[attr-defined]
        results.append(
            Result(
                model=name,
                roc_auc=float(roc_auc_score(test["TX_FRAUD"], scores)),
                average_precision=float(average_precision_score(test["TX_FRAUD"], scores)),
                card_precision_top_100=card_precision_top_k(test, scores),
                fit_seconds=round(fit_seconds, 2),
            )
        )
    summary = summarize(transactions)
    context = {
        "seed": seed,
        "rows": len(transactions),
        "fraud_rate": summary.fraud_rate,
        "train_rows": len(train),
        "train_frauds": int(train["TX_FRAUD"].sum()),
        "test_rows": len(test),
        "test_frauds": int(test["TX_FRAUD"].sum()),
        "train_window": f"{TRAIN_START} .. {TRAIN_START + timedelta(days=TRAIN_DAYS - 1)}",
        "simulate_and_features_seconds": round(prepared, 2),
    }
    return results, context


def main() -> None:
    """Print the table; optionally write it as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="simulator and model seed")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()
    results, context = run(args.seed)
    print(json.dumps(context))
    header = f"{'model':<24} {'AUC':>6} {'(book)':>7} {'AP':>6} {'(book)':>7} {'CP@100':>7} {'(book)':>7} {'ΔAUC':>6}"
    print(header)
    for result in results:
        auc, ap, cp = PUBLISHED[result.model]
        print(
            f"{result.model:<24} {result.roc_auc:>6.3f} {auc:>7.3f} {result.average_precision:>6.3f} "
            f"{ap:>7.3f} {result.card_precision_top_100:>7.3f} {cp:>7.3f} {result.roc_auc - auc:>+6.3f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"context": context, "results": [asdict(r) for r in results]}, indent=2)
        )


if __name__ == "__main__":
    main()
