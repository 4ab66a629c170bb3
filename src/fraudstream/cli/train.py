"""CLI commands of the model: train, promote, evaluate, score."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from fraudstream.cli.context import app_state
from fraudstream.config import FraudstreamConfig
from fraudstream.logs import stage

InputOption = Annotated[
    Path | None,
    typer.Option(
        "--input", "-i", help="Transactions (CSV/Parquet) instead of the pipeline's files."
    ),
]


def _with_protocol(config: FraudstreamConfig, changes: dict[str, object]) -> FraudstreamConfig:
    updates = {name: value for name, value in changes.items() if value is not None}
    if not updates:
        return config
    trials = updates.pop("n_trials", None)
    data = config.model_dump()
    data["protocol"] |= updates
    if trials is not None:
        data["tuning"] |= {"n_trials": trials}
    return config.model_validate(data)


def _line(name: str, values: dict[str, float]) -> str:
    shown = "  ".join(f"{metric} {value:.3f}" for metric, value in values.items())
    return f"{name:<9} {shown}"


def train(
    ctx: typer.Context,
    input_path: InputOption = None,
    start_date: Annotated[
        str | None, typer.Option("--start-date", help="First training day, YYYY-MM-DD.")
    ] = None,
    train_days: Annotated[int | None, typer.Option("--train-days", min=1)] = None,
    delay_days: Annotated[int | None, typer.Option("--delay-days", min=0)] = None,
    test_days: Annotated[int | None, typer.Option("--test-days", min=1)] = None,
    trials: Annotated[int | None, typer.Option("--trials", min=1, help="Tuning trials.")] = None,
) -> None:
    """Train the fraud model under the time-ordered protocol and register it as challenger.

    Selects the class weighting and tunes on prequential folds (never on test days), fits on the
    training window with the labels known at the end of the delay, sets the decision threshold
    from the daily alert budget on the delay period, evaluates on the test window beside the
    logistic baseline, logs it all to MLflow and registers the model as `challenger`.
    """
    from fraudstream.training.jobs import TRAINING_REPORT, read_training, run_train

    changes: dict[str, object] = {
        "start_date": date.fromisoformat(start_date) if start_date else None,
        "train_days": train_days,
        "delay_days": delay_days,
        "test_days": test_days,
        "n_trials": trials,
    }
    config = _with_protocol(app_state(ctx).config(), changes)
    with stage("train"):
        report = run_train(config, input_path)
    _, last = read_training(config)
    k = config.model.alert_budget_k
    typer.echo(
        f"trained {report.selection.estimator} ({report.selection.weighting} class weight, "
        f"{report.selection.trials} trials) on {report.train_window}; test {report.test_window}"
    )
    for name, evaluation in (("model", report.model), ("baseline", report.baseline)):
        values = {
            "AUC": evaluation.roc_auc,
            "AP": evaluation.average_precision,
            f"CP@{k}": evaluation.card_precision_top_k,
            "precision": evaluation.precision_at_threshold,
            "recall": evaluation.recall_at_threshold,
        }
        typer.echo(_line(name, values))
    typer.echo(
        f"threshold {report.threshold:.4f} (~{report.model.cards_alerted_per_day:.0f} cards "
        f"alerted a day); registered version {last.version} as challenger "
        f"(run {last.run_id}, {last.seconds:.0f} s)"
    )
    typer.echo(f"report: {config.paths.reports_dir / TRAINING_REPORT}")


def promote(ctx: typer.Context) -> None:
    """Judge the last trained challenger: champion only if it beats the incumbent by the margins."""
    from fraudstream.training.jobs import PROMOTION_REPORT, run_promote

    config = app_state(ctx).config()
    with stage("promote"):
        decision = run_promote(config)
    verdict = "PROMOTED" if decision.promoted else "REFUSED"
    typer.echo(f"{verdict} version {decision.challenger_version}: {decision.reason}")
    typer.echo(f"report: {config.paths.reports_dir / PROMOTION_REPORT}")


ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Model URI (default: models:/<registry name>@champion)."),
]


def evaluate(ctx: typer.Context, model: ModelOption = None) -> None:
    """Evaluate a registered model on the protocol's test window with its own threshold."""
    from fraudstream.training.scoring import EVALUATION_REPORT, run_evaluate

    config = app_state(ctx).config()
    with stage("evaluate"):
        result = run_evaluate(config, model)
    k = result.k
    typer.echo(
        _line(
            "model",
            {
                "AUC": result.roc_auc,
                "AP": result.average_precision,
                f"CP@{k}": result.card_precision_top_k,
                "precision": result.precision_at_threshold,
                "recall": result.recall_at_threshold,
                "Brier": result.brier,
            },
        )
    )
    for day in result.days:
        typer.echo(
            f"  {day.day}: {day.transactions:,} transactions, {day.frauds} frauds, "
            f"CP@{k} {day.card_precision_top_k:.2f}, {day.cards_alerted} cards alerted"
        )
    typer.echo(f"report: {config.paths.reports_dir / EVALUATION_REPORT}")


def score(
    ctx: typer.Context,
    input_path: Annotated[
        Path, typer.Option("--input", "-i", help="Transactions to score: *.csv or *.parquet.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Scores to write: *.csv or *.parquet.")
    ],
    model: ModelOption = None,
) -> None:
    """Score every transaction of a file: TRANSACTION_ID, fraud_probability, is_alert.

    Features are computed point in time from the file itself, as in training; the decision uses
    the threshold stored with the model.
    """
    from fraudstream.training.scoring import run_score

    config = app_state(ctx).config()
    with stage("score"):
        summary = run_score(config, input_path, output, model)
    typer.echo(
        f"scored {summary.rows:,} transactions with version {summary.model_version}: "
        f"{summary.alerts:,} alerts at threshold {summary.threshold:.4f}; wrote {summary.output}"
    )


def register(app: typer.Typer) -> None:
    """Add the model commands to ``app``."""
    app.command()(train)
    app.command()(promote)
    app.command()(evaluate)
    app.command()(score)


__all__ = ["register"]
