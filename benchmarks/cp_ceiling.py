"""How much CP@100 any model can reach on a test week of the simulated data.

Two oracles on the protocol's test window (default start and ±2 weeks):

* **perfect**: scores every fraud 1 and every genuine transaction 0;
* **ceiling**: the same, except for the frauds no feature can see — scenario-2 frauds (a
  compromised terminal) made before any fraud at that terminal was known
  (``TERMINAL_ID_NB_FRAUD_KNOWN_28DAY_WINDOW`` is 0): those score 0, like genuine ones.

Also prints the share of test frauds that are invisible that way and the ROC AUC an otherwise
perfect model reaches when it ranks them at random among the genuine transactions.

    python benchmarks/cp_ceiling.py [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from fraudstream.config import load_config
from fraudstream.feature_store import compute_features
from fraudstream.simulator import simulate
from fraudstream.training.data import join_features
from fraudstream.training.metrics import card_precision_top_k
from fraudstream.training.protocol import split

KNOWN_AT_TERMINAL = "TERMINAL_ID_NB_FRAUD_KNOWN_28DAY_WINDOW"


def main() -> None:
    """Print the oracles of each test window."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, default=Path("configs/config.yaml"))
    args = parser.parse_args()
    config = load_config(args.config, use_env=False)
    transactions = simulate(config.simulator.model_copy(update={"seed": args.seed}))
    frame = join_features(transactions, compute_features(transactions))
    k = config.model.alert_budget_k
    rng = np.random.default_rng(args.seed)
    for shift in (0, -14, 14):
        protocol = config.protocol.shifted(shift)
        test = split(frame, protocol).test
        fraud = test["TX_FRAUD"].to_numpy()
        invisible = ((test["TX_FRAUD_SCENARIO"] == 2) & (test[KNOWN_AT_TERMINAL] == 0)).to_numpy()
        visible_only = np.where(invisible, 0.0, fraud.astype(float))
        random_for_invisible = np.where(invisible, rng.random(len(test)) * 0.5, visible_only)
        random_for_invisible = np.where(
            fraud == 0, rng.random(len(test)) * 0.5, random_for_invisible
        )
        print(
            f"{protocol.test_window()}: perfect CP@{k} {card_precision_top_k(test, fraud.astype(float), k):.3f}, "
            f"ceiling {card_precision_top_k(test, visible_only, k):.3f}; "
            f"{invisible.sum() / fraud.sum():.1%} of {fraud.sum()} test frauds invisible; "
            f"AUC with those ranked at random {roc_auc_score(fraud, random_for_invisible):.3f}"
        )


if __name__ == "__main__":
    main()
