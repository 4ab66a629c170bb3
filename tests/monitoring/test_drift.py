"""Online drift detection: a change is found soon, a stationary stream raises nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from fraudstream.feature_store import FEATURE_NAMES
from fraudstream.monitoring.drift import FEATURE_SIGNALS, DriftConfig, DriftMonitor, Signal

pytestmark = pytest.mark.unit

START = datetime(2018, 4, 1)


def _times(count: int) -> list[datetime]:
    return [START + timedelta(seconds=10 * i) for i in range(count)]


def test_the_feature_signals_are_declared_features() -> None:
    assert set(FEATURE_SIGNALS.values()) <= set(FEATURE_NAMES)


def test_a_mean_shift_in_the_score_is_found_within_a_thousand_events() -> None:
    rng = np.random.default_rng(1)
    values = np.r_[rng.beta(1, 30, 20_000), rng.beta(1, 15, 5_000)]  # mean 0.032 -> 0.0625
    times = _times(len(values))
    monitor = DriftMonitor()

    alarms = monitor.update(Signal.SCORE, values, times)

    assert alarms, "the shift was not detected"
    first = alarms[0]
    assert 20_000 <= first.updates <= 21_000
    assert first.at == times[first.updates - 1]
    assert first.signal is Signal.SCORE
    assert first.detector == "ADWIN(delta=1e-05)"
    assert first.after > first.before
    assert monitor.alarms(Signal.SCORE) == len(alarms)
    assert monitor.last_alarm(Signal.SCORE) == alarms[-1]


def test_a_stationary_stream_raises_no_alarm_heavy_tailed_amounts_included() -> None:
    # Raw log-normal amounts made ADWIN raise false alarms (its bound assumes light tails);
    # amounts are watched on a log scale.
    rng = np.random.default_rng(2)
    monitor = DriftMonitor()
    for signal, values in {
        Signal.AMOUNT: rng.lognormal(3.5, 0.8, 100_000),
        Signal.ALERT_RATE: (rng.random(100_000) < 0.01).astype(float),
    }.items():
        assert monitor.update(signal, values, _times(len(values))) == []
        assert monitor.alarms(signal) == 0


def test_a_rise_of_the_error_rate_is_found() -> None:
    rng = np.random.default_rng(3)
    errors = np.r_[rng.random(20_000) < 0.02, rng.random(10_000) < 0.06].astype(float)
    alarms = DriftMonitor().update(Signal.ERROR_RATE, errors, _times(len(errors)))
    assert alarms
    assert 20_000 <= alarms[0].updates <= 23_000


def test_signals_are_independent_and_a_reset_keeps_the_alarm_count() -> None:
    rng = np.random.default_rng(4)
    monitor = DriftMonitor(DriftConfig(deltas={Signal.AMOUNT: 1e-3}))
    shifted = np.r_[rng.normal(10, 1, 5_000), rng.normal(14, 1, 2_000)]
    assert monitor.update(Signal.AMOUNT, shifted, _times(len(shifted)))
    assert monitor.alarms(Signal.TERMINAL_RISK) == 0
    assert monitor.detector_name(Signal.AMOUNT) == "ADWIN(delta=0.001)"
    count = monitor.alarms(Signal.AMOUNT)
    monitor.reset(Signal.AMOUNT)
    assert monitor.alarms(Signal.AMOUNT) == count
    assert monitor.estimate(Signal.AMOUNT) == 0.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_a_value_that_is_not_finite_is_refused_by_name(bad: float) -> None:
    with pytest.raises(ValueError, match="amount_to_usual"):
        DriftMonitor().update(Signal.AMOUNT_TO_USUAL, [1.0, bad], _times(2))


def test_values_and_times_must_pair_up() -> None:
    with pytest.raises(ValueError, match="shorter"):
        DriftMonitor().update(Signal.SCORE, [0.1, 0.2], _times(1))
