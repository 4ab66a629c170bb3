"""The batch-trained model against the handbook's published numbers and the project's targets.

Simulates the reference size, computes the declared features, and runs `fraudstream train`'s
selection and training (``fraudstream.training.train.train``, the configuration of
``configs/config.yaml``) with the handbook's protocol at the default start date and ±2 weeks.
Prints ROC AUC, AP and CP@100 of the model and of the logistic baseline next to the book's
table and the targets, and the time each training took.

    python benchmarks/model_quality.py [--seed 0] [--config configs/config.yaml] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from fraudstream.config import load_config
from fraudstream.feature_store import compute_features
from fraudstream.simulator import simulate
from fraudstream.training.data import join_features
from fraudstream.training.train import train

#: The handbook's published test-week results (AUC ROC, AP, CP@100).
PUBLISHED = {
    "logistic regression": (0.871, 0.606, 0.291),
    "random forest": (0.867, 0.658, 0.287),
    "XGBoost": (0.862, 0.639, 0.273),
    "best after model selection (XGBoost)": (0.869, 0.687, 0.303),
}
TARGETS = (0.885, 0.70, 0.305)
SHIFTS = (0, -14, 14)


def main() -> None:
    """Run the three windows; print and optionally write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="simulator seed")
    parser.add_argument("--config", type=Path, default=Path("configs/config.yaml"))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    config = load_config(args.config, use_env=False)
    started = time.perf_counter()
    transactions = simulate(config.simulator.model_copy(update={"seed": args.seed}))
    frame = join_features(transactions, compute_features(transactions))
    print(f"simulated and computed features in {time.perf_counter() - started:.1f} s")
    print("published (the handbook's data):")
    for name, (auc, ap, cp) in PUBLISHED.items():
        print(f"  {name:<40} AUC {auc:.3f}  AP {ap:.3f}  CP@100 {cp:.3f}")
    print(f"  {'targets':<40} AUC {TARGETS[0]:.3f}  AP {TARGETS[1]:.3f}  CP@100 {TARGETS[2]:.3f}")
    rows = []
    for shift in SHIFTS:
        protocol = config.protocol.shifted(shift)
        began = time.perf_counter()
        outcome = train(frame, protocol, config.model, config.tuning)
        seconds = time.perf_counter() - began
        for name, scored in (("model", outcome.model), ("baseline", outcome.baseline)):
            e = scored.evaluation
            met = (
                e.roc_auc >= TARGETS[0],
                e.average_precision >= TARGETS[1],
                e.card_precision_top_k >= TARGETS[2],
            )
            rows.append(
                {
                    "test_window": protocol.test_window(),
                    "shift_days": shift,
                    "model": name,
                    "estimator": outcome.selection.estimator if name == "model" else "logistic",
                    "roc_auc": round(e.roc_auc, 4),
                    "average_precision": round(e.average_precision, 4),
                    "card_precision_top_100": round(e.card_precision_top_k, 4),
                    "targets_met": all(met),
                    "train_seconds": round(seconds, 1),
                }
            )
            print(
                f"{protocol.test_window()} {name:<9} AUC {e.roc_auc:.3f}  AP {e.average_precision:.3f}  "
                f"CP@100 {e.card_precision_top_k:.3f}  {'all targets met' if all(met) else 'below target'}"
                + (
                    f"  ({seconds:.0f} s, {outcome.selection.trials} trials, "
                    f"{outcome.selection.weighting} weighting)"
                    if name == "model"
                    else ""
                )
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
