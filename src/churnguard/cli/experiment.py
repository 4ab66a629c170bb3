"""``churnguard experiment``: compare champion and challenger, then promote or stop."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Annotated

import typer

from churnguard.cli.context import app_state
from churnguard.logs import stage

if TYPE_CHECKING:
    from types import ModuleType

    from churnguard.jobs.experiment import ServiceTarget

experiment_app = typer.Typer(
    help="Champion vs challenger experiments (shadow or A/B): report, promote, stop.",
    no_args_is_help=True,
)

ServiceOption = Annotated[
    str | None,
    typer.Option(
        "--service-url",
        help="Running service to switch back to single mode and reload (key: CHURNGUARD_SERVING_API_KEY).",
    ),
]


def _jobs() -> ModuleType:
    from churnguard.jobs import experiment

    return experiment


def service_target(url: str | None) -> ServiceTarget | None:
    if url is None:
        return None
    key = os.environ.get("CHURNGUARD_SERVING_API_KEY")
    if not key:
        typer.echo(
            "--service-url needs the service's admin key in CHURNGUARD_SERVING_API_KEY", err=True
        )
        raise typer.Exit(code=2)
    target: ServiceTarget = _jobs().ServiceTarget(url, key)
    return target


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@experiment_app.command()
def report(
    ctx: typer.Context,
    store_url: Annotated[
        str | None,
        typer.Option("--store-url", help="Prediction store (default: serving.store_url)."),
    ] = None,
    min_detectable_effect: Annotated[
        float,
        typer.Option("--mde", min=0.001, max=0.5, help="Smallest AUC difference worth detecting."),
    ] = 0.02,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Compare the variants on their labeled predictions: tests, intervals, sample size, advice."""
    with stage("experiment-report"):
        result, versions = _jobs().run_experiment_report(
            app_state(ctx).config(), store_url, min_detectable_effect
        )
    if as_json:
        typer.echo(
            json.dumps({"versions": versions, "report": result.model_dump(mode="json")}, indent=2)
        )
        return
    mode = (
        "paired (shadow: same requests)" if result.paired else "unpaired (A/B: different customers)"
    )
    typer.echo(f"comparison: {mode}")
    for variant in (result.champion, result.challenger):
        lo, hi = variant.roc_auc_ci.lower, variant.roc_auc_ci.upper
        typer.echo(
            f"  {variant.variant:<10} versions {', '.join(versions.get(variant.variant, []))}: "
            f"n={variant.n} ROC-AUC {variant.roc_auc:.3f} [{lo:.3f}, {hi:.3f}] "
            f"precision {_pct(variant.precision)} recall {_pct(variant.recall)}"
        )
    diff = result.auc_difference
    typer.echo(
        f"  AUC difference (challenger - champion) {diff.estimate:+.4f} "
        f"[{diff.ci.lower:+.4f}, {diff.ci.upper:+.4f}], p = {diff.p_value:.3g} ({diff.test})"
    )
    size = result.sample_size
    typer.echo(
        f"  labels: {size.labels_now} now, {size.labels_needed} needed to detect "
        f"{size.min_detectable_effect} (detectable now: {size.detectable_effect_now:.4f})"
    )
    typer.echo(f"RECOMMENDATION: {result.recommendation.upper()}: {result.reason}")


@experiment_app.command()
def promote(ctx: typer.Context, service_url: ServiceOption = None) -> None:
    """Promote the challenger through the quality gate (recorded), then end the experiment."""
    from churnguard.jobs.training import run_promote

    target = service_target(service_url)
    with stage("experiment-promote"):
        decision = run_promote(app_state(ctx).config())
    typer.echo(f"{'PROMOTED' if decision.promoted else 'REFUSED'}: {decision.reason}")
    if target is not None:
        answer = _jobs().end_in_service(target)
        typer.echo(f"service back to single mode, serving version {answer.get('version')}")
    if not decision.promoted:
        raise typer.Exit(code=1)


@experiment_app.command()
def stop(
    ctx: typer.Context,
    reason: Annotated[
        str, typer.Option("--reason", help="Why the experiment ends (audit history).")
    ],
    service_url: ServiceOption = None,
) -> None:
    """End the experiment without promotion (recorded in the audit history)."""
    target = service_target(service_url)
    with stage("experiment-stop"):
        entry = _jobs().run_experiment_stop(app_state(ctx).config(), reason)
    typer.echo(f"experiment stopped: challenger {entry.version} not promoted ({reason})")
    if target is not None:
        answer = _jobs().end_in_service(target)
        typer.echo(f"service back to single mode, serving version {answer.get('version')}")


def register(app: typer.Typer) -> None:
    """Add ``experiment`` to ``app``."""
    app.add_typer(experiment_app, name="experiment")


__all__ = ["register"]
