"""Model quality on the real data over five split seeds (the protocol of the training issue).

For each seed 0-4: a stratified 80/20 split of the IBM Telco data; tuning (Optuna, CV on the
80 % only), the calibration choice and the decision threshold all use the 80 % alone; the 20 %
is scored once. Prints per-seed and mean ± std ROC-AUC, PR-AUC, Brier and F1 for the configured
estimator and, for reference, an untuned one-hot logistic regression.

Usage:
    CHURNGUARD_REAL_DATA=/path/to/telco.csv .venv/bin/python benchmarks/model_quality.py \\
        [--seeds 0 1 2 3 4] [--trials 30] [--estimator lightgbm]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from churnguard.config import load_config
from churnguard.data.config import SplitConfig
from churnguard.data.preprocess import preprocess_data
from churnguard.models.evaluate import classification_metrics
from churnguard.models.train import fit_model
from churnguard.models.tune import tune_hyperparameters

METRICS = ("roc_auc", "pr_auc", "brier", "f1")
TARGETS = {
    "roc_auc": (">=", 0.850),
    "pr_auc": (">=", 0.67),
    "brier": ("<=", 0.135),
    "f1": (">=", 0.63),
}


def _score(
    config: Any, raw: pd.DataFrame, seed: int, trials: int, storage: str
) -> dict[str, dict[str, float]]:
    splits = preprocess_data(raw, SplitConfig(train=0.8, validation=0.0, test=0.2, seed=seed))
    scores: dict[str, dict[str, float]] = {}
    tuned = None
    if config.tuning.enabled and trials > 0:
        result = tune_hyperparameters(
            splits.train,
            config,
            n_trials=trials,
            storage=storage,
            study_name=f"quality-seed{seed}-{time.time_ns()}",
            log_to_mlflow=False,
        )
        tuned = result.best_params
    for name, cfg, params in (
        (config.model.estimator, config, tuned),
        (
            "logistic-baseline",
            config.model_copy(
                update={
                    "model": config.model.model_copy(
                        update={"estimator": "logistic", "calibration": "none"}
                    )
                }
            ),
            None,
        ),
    ):
        fitted = fit_model(splits.train, cfg, params)
        proba = fitted.predict_proba(splits.test)
        metrics = classification_metrics(
            splits.test["Churn"].to_numpy(), proba, fitted.threshold.threshold
        )
        scores[name] = {m: metrics[m] for m in METRICS} | {"threshold": fitted.threshold.threshold}
    return scores


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--trials", type=int, default=None, help="default: tuning.n_trials")
    parser.add_argument("--estimator", default=None)
    parser.add_argument("--config", type=Path, default=Path("configs/config.yaml"))
    args = parser.parse_args()
    real = os.environ.get("CHURNGUARD_REAL_DATA")
    if not real or not Path(real).is_file():
        sys.exit("set CHURNGUARD_REAL_DATA to the IBM Telco CSV")
    config = load_config(args.config)
    if args.estimator:
        config = config.model_copy(
            update={"model": config.model.model_copy(update={"estimator": args.estimator})}
        )
    trials = args.trials if args.trials is not None else config.tuning.n_trials
    raw = pd.read_csv(real)
    storage = f"sqlite:///{Path('benchmarks') / 'quality_optuna.db'}"
    per_seed: dict[str, list[dict[str, float]]] = {}
    start = time.perf_counter()
    for seed in args.seeds:
        for name, scores in _score(config, raw, seed, trials, storage).items():
            per_seed.setdefault(name, []).append(scores)
            shown = "  ".join(f"{m}={scores[m]:.4f}" for m in (*METRICS, "threshold"))
            print(f"seed {seed}  {name:<18} {shown}", flush=True)
    Path("benchmarks/quality_optuna.db").unlink(missing_ok=True)
    print(f"\n{len(args.seeds)} seeds, {trials} trials each, {time.perf_counter() - start:.0f} s")
    for name, rows in per_seed.items():
        parts = []
        for metric in METRICS:
            values = [r[metric] for r in rows]
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            parts.append(f"{metric} {statistics.mean(values):.4f} ± {std:.4f}")
        print(f"{name:<18} " + "  ".join(parts))
    main_rows = per_seed[config.model.estimator]
    for metric, (op, target) in TARGETS.items():
        mean = statistics.mean(r[metric] for r in main_rows)
        ok = mean >= target if op == ">=" else mean <= target
        print(f"target {metric} {op} {target}: {'met' if ok else 'NOT met'} ({mean:.4f})")


if __name__ == "__main__":
    main()
