"""Tests of the Optuna search: search space, CV on train only, pruning, MLflow runs, storages."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import optuna
import pandas as pd
import pytest
from mlflow import MlflowClient
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState
from sqlalchemy.exc import SADeprecationWarning

import churnguard.models.tune as tune
from churnguard.config import ChurnguardConfig, load_config
from churnguard.data.preprocess import SplitFrames, preprocess_data
from churnguard.data.synthetic import generate_customers
from churnguard.errors import ConfigError, DataValidationError
from churnguard.models.config import SearchParam, TuningConfig
from churnguard.models.estimators import build_model_pipeline
from churnguard.models.tune import (
    TuningResult,
    suggest_params,
    tune_hyperparameters,
    validate_search_space,
)

CONFIG_PATH = Path(__file__).resolve().parents[2] / "configs" / "config.yaml"
#: Small enough for well under a second per trial on 700 training rows with 3 folds.
TINY_LIGHTGBM_SPACE: dict[str, dict[str, Any]] = {
    "n_estimators": {"type": "int", "low": 20, "high": 60, "step": 10},
    "learning_rate": {"type": "float", "low": 0.03, "high": 0.3, "log": True},
    "num_leaves": {"type": "int", "low": 4, "high": 16},
}
#: A min_child_samples of 1000 (more than a fold holds) grows no tree: a trial scoring AUC 0.5.
DEGENERATE_LIGHTGBM_SPACE: dict[str, dict[str, Any]] = {
    "n_estimators": {"type": "int", "low": 5, "high": 15, "step": 5},
    "min_child_samples": {"type": "categorical", "choices": [10, 20, 40, 1000]},
}
LOGISTIC_SPACE: dict[str, dict[str, Any]] = {
    "C": {"type": "float", "low": 0.01, "high": 1.0, "log": True}
}

WORKER = """
import sys
from pathlib import Path

from churnguard.config import ChurnguardConfig
from churnguard.data.preprocess import preprocess_data
from churnguard.data.synthetic import generate_customers
from churnguard.models.tune import tune_hyperparameters

config_path, storage, study_name = sys.argv[1:]
config = ChurnguardConfig.model_validate_json(Path(config_path).read_text())
train = preprocess_data(generate_customers(1000, seed=11)).train
result = tune_hyperparameters(
    train, config, storage=storage, study_name=study_name, n_trials=3, log_to_mlflow=False
)
print(result.model_dump_json())
"""


def _config(
    base: ChurnguardConfig,
    *,
    estimator: str = "lightgbm",
    space: dict[str, dict[str, Any]] | None = None,
    **tuning: Any,
) -> ChurnguardConfig:
    """``base`` with a small search budget; the timeout is generous so runs stay reproducible."""
    default_space = LOGISTIC_SPACE if estimator == "logistic" else TINY_LIGHTGBM_SPACE
    settings = {
        "n_trials": 3,
        "timeout_seconds": 600,
        "cv_folds": 3,
        "search_space": {estimator: space or default_space},
        **tuning,
    }
    tuning_config = TuningConfig.model_validate({**base.tuning.model_dump(), **settings})
    model = base.model.model_copy(update={"estimator": estimator})
    return base.model_copy(update={"tuning": tuning_config, "model": model})


def _fresh_storage(template: Path, directory: Path) -> str:
    shutil.copyfile(template, directory / "optuna.db")
    return f"sqlite:///{directory / 'optuna.db'}"


@pytest.fixture(scope="module")
def base_config() -> ChurnguardConfig:
    return load_config(CONFIG_PATH, use_env=False)


@pytest.fixture(scope="module")
def splits() -> SplitFrames:
    """1,000 synthetic customers split 70/15/15."""
    return preprocess_data(generate_customers(1000, seed=11))


@pytest.fixture(scope="module")
def train(splits: SplitFrames) -> pd.DataFrame:
    return splits.train


@pytest.fixture(scope="module")
def empty_optuna_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Optuna sqlite storage with its tables and no study, to copy (creating one is slow)."""
    path = tmp_path_factory.mktemp("optuna-template") / "optuna.db"
    optuna.storages.RDBStorage(f"sqlite:///{path}").engine.dispose()
    return path


@pytest.fixture
def storage(empty_optuna_db: Path, tmp_path: Path) -> str:
    """The URL of a fresh sqlite storage, without any study, in ``tmp_path``."""
    return _fresh_storage(empty_optuna_db, tmp_path)


@pytest.fixture(scope="module")
def tuned(
    base_config: ChurnguardConfig,
    train: pd.DataFrame,
    empty_optuna_db: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> TuningResult:
    """Three LightGBM trials over the tiny space, in a fresh sqlite storage."""
    storage = _fresh_storage(empty_optuna_db, tmp_path_factory.mktemp("tuned"))
    return tune_hyperparameters(train, _config(base_config), storage=storage, log_to_mlflow=False)


@pytest.fixture(scope="module")
def empty_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow sqlite store with its tables, to copy: its migrations take seconds."""
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    with warnings.catch_warnings():
        # MLflow 3.17's sqlite store uses SQLAlchemy's ``noload`` strategy, deprecated in
        # SQLAlchemy 2.1; it warns once per process, when the store's mappers are configured.
        warnings.filterwarnings(
            "ignore", message="The ``noload`` loader strategy", category=SADeprecationWarning
        )
        MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def mlflow_experiment(
    empty_mlflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """An experiment in a throwaway sqlite tracking store; MLflow's tracking URI is restored."""
    previous = mlflow.get_tracking_uri()
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    shutil.copyfile(empty_mlflow_db, tmp_path / "mlflow.db")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        yield mlflow.create_experiment("tuning", artifact_location=(tmp_path / "mlruns").as_uri())
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        # This also exports MLFLOW_TRACKING_URI, which monkeypatch then puts back as it was.
        mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="session")
def tuning_postgres_url(postgres_url: str) -> str:
    """The shared PostgreSQL of the test suite (see tests/conftest.py)."""
    return postgres_url


@pytest.fixture
def postgres_storage(tuning_postgres_url: str) -> Iterator[optuna.storages.RDBStorage]:
    """The Optuna storage on PostgreSQL, its connections closed afterwards."""
    storage = optuna.storages.RDBStorage(tuning_postgres_url)
    yield storage
    storage.remove_session()
    storage.engine.dispose()


@pytest.mark.unit
@pytest.mark.parametrize(
    ("param", "distribution"),
    [
        (
            SearchParam(type="int", low=100, high=800, step=50),
            IntDistribution(100, 800, step=50),
        ),
        (SearchParam(type="int", low=4, high=64, log=True), IntDistribution(4, 64, log=True)),
        (
            SearchParam(type="float", low=0.01, high=0.1, log=True),
            FloatDistribution(0.01, 0.1, log=True),
        ),
        (
            SearchParam(type="float", low=0.5, high=1.0, step=0.1),
            FloatDistribution(0.5, 1.0, step=0.1),
        ),
        (
            SearchParam(type="categorical", choices=["gbdt", "dart"]),
            CategoricalDistribution(["gbdt", "dart"]),
        ),
    ],
    ids=["int-step", "int-log", "float-log", "float-step", "categorical"],
)
def test_suggest_params_samples_each_dimension_from_its_configured_distribution(
    param: SearchParam, distribution: BaseDistribution
) -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    values = []
    for _ in range(5):
        trial = study.ask()
        values.append(suggest_params(trial, {"x": param})["x"])
        study.tell(trial, 0.0)
    assert {trial.distributions["x"] for trial in study.trials} == {distribution}
    assert all(distribution._contains(distribution.to_internal_repr(value)) for value in values)
    if isinstance(distribution, IntDistribution):
        assert all(type(value) is int for value in values)


@pytest.mark.unit
def test_validate_search_space_names_a_parameter_the_estimator_does_not_accept() -> None:
    space = {"lightgbm": {"num_leafs": SearchParam(type="int", low=4, high=24)}}
    with pytest.raises(ConfigError, match=r"lightgbm\.num_leafs.*did you mean 'num_leaves'"):
        validate_search_space(space, "lightgbm")


@pytest.mark.unit
def test_validate_search_space_rejects_an_estimator_without_a_search_space() -> None:
    space = {"lightgbm": {"num_leaves": SearchParam(type="int", low=4, high=24)}}
    with pytest.raises(ConfigError, match=r"tuning\.search_space\.logistic is missing"):
        validate_search_space(space, "logistic")


@pytest.mark.unit
def test_validate_search_space_accepts_the_nested_parameters_of_the_blend() -> None:
    space = {"blend": {"lightgbm__num_leaves": SearchParam(type="int", low=2, high=8)}}
    assert validate_search_space(space, "blend") == space["blend"]


@pytest.mark.unit
@pytest.mark.parametrize(
    ("param", "problem"),
    [
        (SearchParam(type="int", low=4.5, high=24), "whole low, high and step"),
        (SearchParam(type="float", low=0.01, high=1.0, log=True, step=0.01), "log: true"),
        (SearchParam(type="int", low=2, high=64, step=0), "step must be > 0"),
    ],
    ids=["fractional-int", "log-with-step", "zero-step"],
)
def test_validate_search_space_rejects_dimensions_optuna_cannot_sample(
    param: SearchParam, problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        validate_search_space({"lightgbm": {"num_leaves": param}}, "lightgbm")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("estimator", "space"),
    [("lightgbm", {"num_leafs": {"type": "int", "low": 4, "high": 24}}), ("logistic", None)],
    ids=["unknown-parameter", "missing-estimator-space"],
)
def test_tuning_with_an_invalid_search_space_fails_before_any_trial(
    base_config: ChurnguardConfig,
    train: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    estimator: str,
    space: dict[str, dict[str, Any]] | None,
) -> None:
    config = _config(base_config, space=space)
    # The search space is lightgbm's; the missing-space case then tunes the logistic model.
    config = config.model_copy(
        update={"model": config.model.model_copy(update={"estimator": estimator})}
    )
    built: list[object] = []
    monkeypatch.setattr(tune, "build_model_pipeline", lambda *args, **kwargs: built.append(args))

    with pytest.raises(ConfigError, match=r"tuning\.search_space"):
        tune_hyperparameters(
            train, config, storage=f"sqlite:///{tmp_path / 'optuna.db'}", log_to_mlflow=False
        )
    assert built == []
    assert not (tmp_path / "optuna.db").exists()


@pytest.mark.unit
def test_tuning_rejects_a_train_frame_without_the_target(
    base_config: ChurnguardConfig, train: pd.DataFrame, storage: str
) -> None:
    with pytest.raises(DataValidationError, match="no 'Churn' column"):
        tune_hyperparameters(
            train.drop(columns=["Churn"]),
            _config(base_config),
            storage=storage,
            log_to_mlflow=False,
        )


@pytest.mark.unit
def test_tuning_returns_best_params_inside_the_search_space(tuned: TuningResult) -> None:
    params = tuned.best_params
    assert set(params) == set(TINY_LIGHTGBM_SPACE)
    assert type(params["n_estimators"]) is int
    assert params["n_estimators"] in range(20, 61, 10)
    assert type(params["num_leaves"]) is int
    assert 4 <= params["num_leaves"] <= 16
    assert isinstance(params["learning_rate"], float)
    assert 0.03 <= params["learning_rate"] <= 0.3


@pytest.mark.unit
def test_tuning_reports_a_cross_validated_auc_better_than_chance(tuned: TuningResult) -> None:
    assert 0.5 < tuned.best_value <= 1.0
    assert (tuned.estimator, tuned.n_trials, tuned.n_pruned) == ("lightgbm", 3, 0)
    assert TuningResult.model_validate_json(tuned.model_dump_json()) == tuned


@pytest.mark.unit
def test_tuning_is_reproducible_in_a_fresh_storage(
    base_config: ChurnguardConfig, train: pd.DataFrame, storage: str, tuned: TuningResult
) -> None:
    again = tune_hyperparameters(train, _config(base_config), storage=storage, log_to_mlflow=False)
    assert again.best_params == tuned.best_params
    assert again.best_value == tuned.best_value


@pytest.mark.unit
def test_resuming_a_study_samples_new_params_instead_of_repeating_them(
    base_config: ChurnguardConfig, train: pd.DataFrame, storage: str
) -> None:
    config = _config(base_config, estimator="logistic", n_trials=1)
    for _ in range(2):
        result = tune_hyperparameters(train, config, storage=storage, log_to_mlflow=False)

    trials = optuna.load_study(study_name=result.study_name, storage=storage).trials
    assert result.n_trials == len(trials) == 2
    assert trials[0].params != trials[1].params


class _RecordingPipeline:
    """Wraps the real model pipeline and records the frames it is fitted on and scores."""

    def __init__(self, pipeline: Any, seen: list[tuple[str, pd.DataFrame]]) -> None:
        self.pipeline = pipeline
        self.seen = seen

    def fit(self, features: pd.DataFrame, target: pd.Series) -> _RecordingPipeline:
        self.seen.append(("fit", features))
        self.pipeline.fit(features, target)
        return self

    def predict_proba(self, features: pd.DataFrame) -> Any:
        self.seen.append(("score", features))
        return self.pipeline.predict_proba(features)


@pytest.mark.unit
def test_objective_fits_and_scores_only_customers_of_the_train_frame(
    base_config: ChurnguardConfig,
    splits: SplitFrames,
    storage: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, pd.DataFrame]] = []
    monkeypatch.setattr(
        tune,
        "build_model_pipeline",
        lambda *args, **kwargs: _RecordingPipeline(build_model_pipeline(*args, **kwargs), seen),
    )
    config = _config(base_config, n_trials=2)
    tune_hyperparameters(splits.train, config, storage=storage, log_to_mlflow=False)

    train_ids = set(splits.train["customerID"])
    held_out = set(splits.validation["customerID"]) | set(splits.test["customerID"])
    assert [kind for kind, _ in seen] == ["fit", "score"] * 2 * 3  # trials x folds
    assert all("Churn" not in frame.columns for _, frame in seen)
    fitted = [set(frame["customerID"]) for kind, frame in seen if kind == "fit"]
    scored = [set(frame["customerID"]) for kind, frame in seen if kind == "score"]
    assert all(ids <= train_ids for ids in fitted + scored)
    assert not set().union(*fitted, *scored) & held_out
    assert all(not fit & score for fit, score in zip(fitted, scored, strict=True))
    assert set().union(*scored[:3]) == train_ids  # one trial's folds score the whole frame


@pytest.mark.unit
def test_median_pruning_stops_trials_that_trail_the_median(
    base_config: ChurnguardConfig, train: pd.DataFrame, storage: str
) -> None:
    config = _config(base_config, space=DEGENERATE_LIGHTGBM_SPACE, n_trials=7)
    result = tune_hyperparameters(train, config, storage=storage, log_to_mlflow=False)

    pruned = optuna.load_study(study_name=result.study_name, storage=storage).get_trials(
        states=(TrialState.PRUNED,)
    )
    assert result.n_pruned == len(pruned) > 0
    assert result.n_trials + result.n_pruned == 7
    assert all(len(trial.intermediate_values) < 3 for trial in pruned)
    assert all(trial.number >= 5 for trial in pruned)  # the first five trials are never pruned


@pytest.mark.unit
def test_disabled_pruning_lets_every_trial_run_all_folds(
    base_config: ChurnguardConfig, train: pd.DataFrame, storage: str
) -> None:
    config = _config(base_config, space=DEGENERATE_LIGHTGBM_SPACE, n_trials=7, pruning=False)
    result = tune_hyperparameters(train, config, storage=storage, log_to_mlflow=False)

    trials = optuna.load_study(study_name=result.study_name, storage=storage).trials
    assert (result.n_trials, result.n_pruned) == (7, 0)
    assert all(len(trial.intermediate_values) == 3 for trial in trials)


@pytest.mark.unit
def test_logistic_estimator_is_tuned_in_the_default_sqlite_file(
    base_config: ChurnguardConfig,
    train: pd.DataFrame,
    empty_optuna_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fresh_storage(empty_optuna_db, tmp_path)  # optuna.db in the working directory
    monkeypatch.chdir(tmp_path)
    config = _config(base_config, estimator="logistic", n_trials=1)
    result = tune_hyperparameters(train, config, log_to_mlflow=False)

    assert result.estimator == "logistic"
    assert 0.01 <= float(result.best_params["C"] or 0) <= 1.0
    assert 0.5 < result.best_value <= 1.0
    assert result.storage == "sqlite:///optuna.db"
    study = optuna.load_study(study_name="churnguard", storage="sqlite:///optuna.db")
    assert len(study.trials) == 1


@pytest.mark.unit
def test_tuning_restores_the_callers_optuna_verbosity_even_when_it_fails(
    base_config: ChurnguardConfig, train: pd.DataFrame
) -> None:
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:1/test"
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.DEBUG)
    try:
        with pytest.raises(ConfigError):
            tune_hyperparameters(
                train, _config(base_config), storage=unreachable, log_to_mlflow=False
            )
        assert optuna.logging.get_verbosity() == optuna.logging.DEBUG
    finally:
        optuna.logging.set_verbosity(previous)


@pytest.mark.unit
def test_a_study_in_which_no_trial_completes_raises_a_config_error(
    base_config: ChurnguardConfig, train: pd.DataFrame, storage: str
) -> None:
    negative_c = {"C": {"type": "float", "low": -2.0, "high": -1.0}}
    config = _config(base_config, estimator="logistic", space=negative_c, n_trials=2)
    with pytest.raises(
        ConfigError, match=r"no trial .* completed \(0 pruned, 2 failed; last error"
    ):
        tune_hyperparameters(train, config, storage=storage, log_to_mlflow=False)


@pytest.mark.unit
def test_unreachable_storage_raises_a_config_error_without_the_password(
    base_config: ChurnguardConfig, train: pd.DataFrame
) -> None:
    url = "postgresql+psycopg://postgres:secret@127.0.0.1:1/test"
    with pytest.raises(ConfigError, match="cannot open the Optuna storage") as caught:
        tune_hyperparameters(train, _config(base_config), storage=url, log_to_mlflow=False)
    message = str(caught.value)
    assert "secret" not in message
    assert "postgresql+psycopg://postgres:***@127.0.0.1:1/test" in message
    assert caught.value.__cause__ is None  # no driver traceback chained to the message


@pytest.mark.unit
def test_each_trial_is_logged_as_a_nested_run_of_the_active_mlflow_run(
    base_config: ChurnguardConfig, train: pd.DataFrame, storage: str, mlflow_experiment: str
) -> None:
    config = _config(base_config, space=DEGENERATE_LIGHTGBM_SPACE, n_trials=7)
    with mlflow.start_run(experiment_id=mlflow_experiment) as parent:
        result = tune_hyperparameters(train, config, storage=storage)

    client = MlflowClient()
    runs = client.search_runs([mlflow_experiment])
    children = {run.info.run_name: run for run in runs if run.info.run_id != parent.info.run_id}
    assert sorted(children) == [f"trial-{number}" for number in range(7)]
    assert {run.data.tags["mlflow.parentRunId"] for run in children.values()} == {
        parent.info.run_id
    }
    states = [run.data.tags["trial_state"] for run in children.values()]
    assert (states.count("complete"), states.count("pruned")) == (result.n_trials, result.n_pruned)
    assert all(set(run.data.params) == set(DEGENERATE_LIGHTGBM_SPACE) for run in children.values())
    fold_aucs = client.get_metric_history(children["trial-0"].info.run_id, "cv_fold_auc")
    assert sorted(metric.step for metric in fold_aucs) == [0, 1, 2]
    best_child = max(run.data.metrics["cv_auc_mean"] for run in children.values())
    assert best_child == pytest.approx(result.best_value)
    parent_data = client.get_run(parent.info.run_id).data
    assert parent_data.metrics["best_value"] == pytest.approx(result.best_value)
    assert parent_data.params["best_n_estimators"] == str(result.best_params["n_estimators"])


@pytest.mark.unit
def test_tuning_starts_no_mlflow_run_when_none_is_active(
    base_config: ChurnguardConfig, train: pd.DataFrame, storage: str, mlflow_experiment: str
) -> None:
    config = _config(base_config, estimator="logistic", n_trials=1)
    tune_hyperparameters(train, config, storage=storage)

    assert mlflow.active_run() is None
    assert MlflowClient().search_runs([mlflow_experiment]) == []


@pytest.mark.integration
def test_two_workers_tune_one_study_on_postgresql_in_parallel(
    base_config: ChurnguardConfig,
    tuning_postgres_url: str,
    postgres_storage: optuna.storages.RDBStorage,
    tmp_path: Path,
) -> None:
    config_path = tmp_path / "config.json"
    config_path.write_text(_config(base_config).model_dump_json())
    study_name = f"churnguard-test-{uuid.uuid4().hex}"
    command = [sys.executable, "-c", WORKER, str(config_path), tuning_postgres_url, study_name]
    workers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        outputs = [worker.communicate(timeout=240) for worker in workers]
        assert [worker.returncode for worker in workers] == [0, 0], outputs

        study = optuna.load_study(study_name=study_name, storage=postgres_storage)
        finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
        assert len(finished) == 6
        results = [TuningResult.model_validate_json(stdout) for stdout, _ in outputs]
        assert {result.study_name for result in results} == {study_name}
        assert max(result.best_value for result in results) == pytest.approx(study.best_value)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        if study_name in optuna.get_all_study_names(storage=postgres_storage):
            optuna.delete_study(study_name=study_name, storage=postgres_storage)


@pytest.mark.unit
def test_a_fresh_study_starts_from_the_configured_params(
    base_config: ChurnguardConfig, train: pd.DataFrame, storage: str
) -> None:
    config = _config(base_config, n_trials=2)
    lightgbm = {
        **config.model.lightgbm,
        "n_estimators": 40,
        "learning_rate": 0.05,
        "num_leaves": 200,
    }
    config = config.model_copy(
        update={"model": config.model.model_copy(update={"lightgbm": lightgbm})}
    )
    tune_hyperparameters(train, config, storage=storage, study_name="warm", log_to_mlflow=False)
    first = optuna.load_study(study_name="warm", storage=storage).trials[0]
    assert first.params["n_estimators"] == 40
    assert first.params["learning_rate"] == 0.05
    # A configured value outside the search space is left to the sampler.
    assert 4 <= first.params["num_leaves"] <= 16
