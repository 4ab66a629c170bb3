"""The hyperparameter search space: checking it against the estimator and sampling from it.

:func:`validate_search_space` rejects a configured space Optuna could not search (an unknown
parameter, fractional int bounds, ``log`` with ``step``) before any trial runs;
:func:`suggest_params` samples one set of parameters from it for a trial.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

import optuna

from churnguard.config import ChurnguardConfig
from churnguard.errors import ConfigError
from churnguard.models.config import SearchParam
from churnguard.models.estimators import build_estimator, estimator_params

ParamValue = str | int | float | bool | None


def suggest_params(trial: optuna.Trial, space: Mapping[str, SearchParam]) -> dict[str, ParamValue]:
    """Sample one value per dimension of ``space`` (int with step, float with log or step)."""
    return {name: _suggest(trial, name, param) for name, param in space.items()}


def _suggest(trial: optuna.Trial, name: str, param: SearchParam) -> ParamValue:
    if param.type == "categorical":
        return trial.suggest_categorical(name, param.choices or [])
    low, high = float(param.low or 0), float(param.high or 0)  # SearchParam requires both
    if param.type == "int":
        step = int(param.step or 1)
        return trial.suggest_int(name, int(low), int(high), step=step, log=param.log)
    return trial.suggest_float(name, low, high, step=param.step, log=param.log)


def validate_search_space(
    space: Mapping[str, Mapping[str, SearchParam]], estimator_name: str
) -> Mapping[str, SearchParam]:
    """Return the search space of ``estimator_name`` after checking it can be searched.

    Raises:
        ConfigError: the estimator has no search space, searches a parameter it does not accept,
            or has a dimension optuna cannot sample (fractional int bounds, ``log`` with ``step``).
    """
    estimator_space = space.get(estimator_name)
    if not estimator_space:
        msg = (
            f"tuning.search_space.{estimator_name} is missing or empty: add the {estimator_name} "
            "parameters to search in configs/model_config.yaml, or set tuning.enabled: false"
        )
        raise ConfigError(msg)
    accepted = sorted(build_estimator(estimator_name, {}, seed=0).get_params())
    for name, param in estimator_space.items():
        where = f"tuning.search_space.{estimator_name}.{name}"
        if name not in accepted:
            close = difflib.get_close_matches(name, accepted, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"use one of {', '.join(accepted)}"
            raise ConfigError(f"{where}: {estimator_name} has no parameter '{name}'; {hint}")
        if problem := _dimension_problem(param):
            raise ConfigError(f"{where}: {problem}")
    return estimator_space


def _dimension_problem(param: SearchParam) -> str | None:
    numbers = [value for value in (param.low, param.high, param.step) if value is not None]
    if param.step is not None and param.step <= 0:
        return f"step must be > 0, got {param.step}"
    if param.type == "int" and not all(float(value).is_integer() for value in numbers):
        return f"an int parameter needs whole low, high and step, got {numbers}"
    if param.log and param.step is not None and (param.type == "float" or param.step != 1):
        return "log: true cannot be combined with a step; drop one of them"
    return None


def configured_start(
    config: ChurnguardConfig, space: Mapping[str, SearchParam]
) -> dict[str, ParamValue]:
    """The configured values of the searched params that lie inside the search space."""
    configured = estimator_params(config.model)
    start: dict[str, ParamValue] = {}
    for name, param in space.items():
        value = configured.get(name)
        if param.type == "categorical":
            inside = param.choices is not None and value in param.choices
        else:
            inside = (
                isinstance(value, int | float)
                and param.low is not None
                and param.high is not None
                and param.low <= value <= param.high
            )
        if inside:
            start[name] = value
    return start


__all__ = ["ParamValue", "configured_start", "suggest_params", "validate_search_space"]
