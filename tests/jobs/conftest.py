"""Fixtures of the job tests: a small model project with its own MLflow store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def model_project(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The data project plus a small model configuration and a private MLflow store."""
    config = yaml.safe_load((REPO_ROOT / "configs" / "model_config.yaml").read_text())
    config["mlflow"] |= {
        "tracking_uri": f"sqlite:///{project / 'mlflow.db'}",
        "artifact_location": str(project / "mlruns"),
    }
    config["model"] |= {"cv_folds": 3, "calibration": "none"}
    config["model"]["lightgbm"] |= {"n_estimators": 60}
    config["tuning"] |= {
        "n_trials": 2,
        "cv_folds": 2,
        "timeout_seconds": 60,
        "storage": f"sqlite:///{project / 'optuna.db'}",
    }
    config["tuning"]["search_space"]["blend"]["lightgbm__n_estimators"] = {
        "type": "int",
        "low": 20,
        "high": 60,
        "step": 20,
    }
    config["gate"] |= {"min_auc": 0.6, "margin": 0.0}
    (project / "configs" / "model_config.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    yield project
    mlflow.set_tracking_uri("")
    mlflow.set_registry_uri("")
