from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from fraudstream.simulator import SimulatorConfig, simulate
from fraudstream.transactions.contract import DATETIME_COLUMNS, TX_AMOUNT

pytestmark = pytest.mark.unit


def test_the_same_config_gives_the_same_frame_byte_for_byte(
    small_frame: pd.DataFrame, small_config: SimulatorConfig
) -> None:
    again = simulate(small_config)
    pd.testing.assert_frame_equal(again, small_frame, check_exact=True)
    assert (
        pd.util.hash_pandas_object(again).to_numpy().tobytes()
        == pd.util.hash_pandas_object(small_frame).to_numpy().tobytes()
    )


def test_another_seed_gives_another_frame(
    small_frame: pd.DataFrame, small_config: SimulatorConfig
) -> None:
    other = simulate(small_config.model_copy(update={"seed": small_config.seed + 1}))
    assert len(other) != len(small_frame) or not other[TX_AMOUNT].equals(small_frame[TX_AMOUNT])


def test_the_start_date_moves_the_datetimes_only(
    small_frame: pd.DataFrame, small_config: SimulatorConfig
) -> None:
    later = simulate(small_config.model_copy(update={"start_date": date(2020, 1, 1)}))
    shift = pd.Timestamp("2020-01-01") - pd.Timestamp(small_config.start_date)
    for column in DATETIME_COLUMNS:
        pd.testing.assert_series_equal(later[column], small_frame[column] + shift)
    pd.testing.assert_frame_equal(
        later.drop(columns=list(DATETIME_COLUMNS)), small_frame.drop(columns=list(DATETIME_COLUMNS))
    )
