"""Training end to end on a small simulation: determinism, the baseline, and the commands."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fraudstream.cli import main
from fraudstream.feature_store import compute_features
from fraudstream.simulator import SimulatorConfig, simulate
from fraudstream.training.data import join_features
from fraudstream.training.model_config import ModelConfig, TuningConfig
from fraudstream.training.protocol import ProtocolConfig
from fraudstream.training.train import train

pytestmark = pytest.mark.filterwarnings(
    # MLflow 3.17 saves input examples with an operation pandas 3 deprecates.
    "ignore:Operation with range is deprecated:pandas.errors.Pandas4Warning"
)

#: 60 days from 2018-04-01: the protocol below (train from day 35) and its two folds fit.
SIMULATION = SimulatorConfig(customers=400, terminals=800, days=60, seed=11)
PROTOCOL = ProtocolConfig(start_date=date(2018, 5, 6), folds=2)
FAST_MODEL = ModelConfig(
    lightgbm={"n_estimators": 40, "learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 20}
)
FAST_TUNING = TuningConfig(n_trials=2, max_estimators=40, max_leaves=8)


@pytest.fixture(scope="module")
def labelled() -> pd.DataFrame:
    transactions = simulate(SIMULATION)
    return join_features(transactions, compute_features(transactions))


@pytest.mark.model
def test_training_twice_gives_identical_probabilities(labelled: pd.DataFrame) -> None:
    first = train(labelled, PROTOCOL, FAST_MODEL, FAST_TUNING)
    second = train(labelled, PROTOCOL, FAST_MODEL, FAST_TUNING)
    np.testing.assert_array_equal(first.model.test_scores, second.model.test_scores)
    assert first.model.threshold == second.model.threshold
    assert first.selection == second.selection


@pytest.mark.model
def test_the_model_ranks_frauds_and_beats_chance(labelled: pd.DataFrame) -> None:
    outcome = train(labelled, PROTOCOL, FAST_MODEL, FAST_TUNING)
    evaluation = outcome.model.evaluation
    fraud_rate = evaluation.frauds / evaluation.transactions
    assert evaluation.roc_auc > 0.6
    assert evaluation.average_precision > 1.5 * fraud_rate
    assert outcome.baseline.evaluation.roc_auc > 0.6
    assert len(evaluation.days) == PROTOCOL.test_days
    assert outcome.selection.weighting in outcome.selection.weighting_scores


@pytest.mark.unit
def test_windows_outside_the_data_are_refused(labelled: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="earliest validation fold"):
        train(labelled, PROTOCOL.shifted(-30), FAST_MODEL, FAST_TUNING)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out + err


@pytest.fixture
def model_project(project: Path) -> Path:
    """The test project with the small simulation, fast model settings and the protocol above."""
    path = project / "configs" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["simulator"] |= SIMULATION.model_dump(mode="json")
    config["protocol"] |= PROTOCOL.model_dump(mode="json")
    config["model"] |= {"lightgbm": FAST_MODEL.lightgbm}
    config["tuning"] |= FAST_TUNING.model_dump(mode="json")
    path.write_text(yaml.safe_dump(config))
    return project


@pytest.mark.e2e
def test_pipeline_train_promote_evaluate_score_and_rollback(
    model_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "pipeline")[0] == 0
    code, out = _run(capsys, "train")
    assert code == 0, out
    assert "registered version 1 as challenger" in out
    report = json.loads((model_project / "reports" / "training.json").read_text())
    assert report["test_window"] == PROTOCOL.test_window()
    code, out = _run(capsys, "promote")
    assert code == 0, out
    assert "version 1" in out
    decision = json.loads((model_project / "reports" / "promotion.json").read_text())
    assert decision["compared_with"] == "baseline"

    events = model_project / "events.csv"
    simulate(SIMULATION.model_copy(update={"seed": 12, "days": 10})).drop(
        columns=["TX_FRAUD", "TX_FRAUD_SCENARIO", "TX_LABEL_DATETIME"]
    ).to_csv(events, index=False)
    scores = model_project / "scores.parquet"
    if decision["promoted"]:
        code, out = _run(capsys, "score", "--input", str(events), "--output", str(scores))
        assert code == 0, out
        scored = pd.read_parquet(scores)
        assert list(scored.columns) == ["TRANSACTION_ID", "fraud_probability", "is_alert"]
        assert len(scored) == len(pd.read_csv(events))
        assert scored["fraud_probability"].between(0, 1).all()
        code, out = _run(capsys, "evaluate")
        assert code == 0, out
    else:
        code, out = _run(capsys, "score", "--input", str(events), "--output", str(scores))
        assert code != 0
        assert not scores.exists()

    code, out = _run(capsys, "train", "--trials", "1")
    assert code == 0, out
    code, out = _run(capsys, "promote")
    assert code == 0, out
    code, out = _run(capsys, "models", "list")
    assert code == 0, out
    assert "2" in out


@pytest.mark.unit
def test_train_before_the_pipeline_is_a_state_error(
    model_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(capsys, "train")
    assert code == 6
    assert "run the data pipeline first" in out


@pytest.mark.integration
def test_train_refuses_features_of_another_definition(
    model_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "pipeline")[0] == 0
    summary_path = model_project / "data" / "features" / "features.json"
    summary = json.loads(summary_path.read_text())
    summary["definition_version"] = "000000000000"
    summary_path.write_text(json.dumps(summary))
    code, out = _run(capsys, "train")
    assert code == 6
    assert "definition 000000000000" in out
    assert "features build" in out


@pytest.mark.integration
def test_train_on_a_file_computes_its_features_and_records_its_sha256(
    model_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fraudstream.io import sha256_file

    source = model_project / "transactions.csv"
    simulate(SIMULATION).to_csv(source, index=False)
    code, out = _run(capsys, "train", "--input", str(source), "--test-days", "5")
    assert code == 0, out
    report = json.loads((model_project / "reports" / "training.json").read_text())
    assert report["data_sha256"] == sha256_file(source)
    assert len(report["model"]["days"]) == 5
