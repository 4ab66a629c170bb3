from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from fraudstream.simulator import SimulatorConfig, simulate
from fraudstream.transactions.contract import TX_DATETIME, TX_LABEL_DATETIME

pytestmark = pytest.mark.unit

TINY = SimulatorConfig(customers=150, terminals=300, days=12, seed=5)


def _delay_days(frame: pd.DataFrame) -> pd.Series:
    return (frame[TX_LABEL_DATETIME] - frame[TX_DATETIME]) / pd.Timedelta(days=1)


def test_labels_arrive_a_week_later_give_or_take_a_day(small_frame: pd.DataFrame) -> None:
    delay = _delay_days(small_frame)
    assert delay.between(6.0, 8.0).all()
    assert delay.mean() == pytest.approx(7.0, abs=0.02)
    assert delay.min() < 6.05
    assert delay.max() > 7.95
    # Whole seconds: the jitter is truncated to the second.
    assert (small_frame[TX_LABEL_DATETIME].dt.nanosecond == 0).all()
    assert (small_frame[TX_LABEL_DATETIME].dt.microsecond == 0).all()


def test_without_jitter_every_label_arrives_exactly_after_the_delay() -> None:
    frame = simulate(TINY.model_copy(update={"label_jitter_days": 0.0}))
    assert (frame[TX_LABEL_DATETIME] - frame[TX_DATETIME] == pd.Timedelta(days=7)).all()
    odd = simulate(TINY.model_copy(update={"label_delay_days": 2.25, "label_jitter_days": 0.0}))
    assert (odd[TX_LABEL_DATETIME] - odd[TX_DATETIME] == pd.Timedelta(hours=54)).all()


def test_a_label_never_arrives_before_its_transaction() -> None:
    config = TINY.model_copy(update={"label_delay_days": 0.25, "label_jitter_days": 1.0})
    delay = _delay_days(simulate(config))
    assert (delay >= 0).all()
    assert (delay == 0).mean() > 0.2  # jitter below -0.25 days is clipped to 0
    assert delay.max() <= 1.25


def test_label_timing_changes_nothing_else() -> None:
    plain = simulate(TINY)
    other = simulate(TINY.model_copy(update={"label_delay_days": 30.0, "label_jitter_days": 3.0}))
    pd.testing.assert_frame_equal(
        plain.drop(columns=[TX_LABEL_DATETIME]), other.drop(columns=[TX_LABEL_DATETIME])
    )
    assert not np.array_equal(plain[TX_LABEL_DATETIME], other[TX_LABEL_DATETIME])


@pytest.mark.parametrize(
    ("field", "value"),
    [("label_delay_days", -1.0), ("label_jitter_days", -0.5), ("days", 0), ("radius", 0.0)],
)
def test_the_config_rejects_out_of_range_values(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        SimulatorConfig(**{field: value})


def test_the_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="label_delay"):
        SimulatorConfig.model_validate({"label_delay": 3})
