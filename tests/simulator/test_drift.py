"""Drift injection: the spec syntax, and each kind's effect from its day (and nothing before)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from fraudstream.simulator import (
    AmountShiftDrift,
    NewPatternDrift,
    SimulatorConfig,
    TerminalBurstDrift,
    format_drift,
    parse_drift,
    simulate,
)
from fraudstream.transactions.contract import (
    CUSTOMER_ID,
    TERMINAL_ID,
    TRANSACTION_ID,
    TX_AMOUNT,
    TX_DATETIME,
    TX_FRAUD,
    TX_FRAUD_SCENARIO,
    TX_TIME_DAYS,
    TX_TIME_SECONDS,
)

pytestmark = pytest.mark.unit

DAY = 30


def _with(config: SimulatorConfig, *specs: str) -> pd.DataFrame:
    return simulate(config.model_copy(update={"drift": tuple(parse_drift(s) for s in specs)}))


def _before(frame: pd.DataFrame, day: int) -> pd.DataFrame:
    return frame[frame[TX_TIME_DAYS] < day]


# -- syntax -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("new-pattern:from=30", NewPatternDrift(from_day=30)),
        (
            "new-pattern:from=5,days=3,cards=9,burst=4.5",
            NewPatternDrift(from_day=5, days=3, cards=9, burst=4.5),
        ),
        ("amount-shift:from=10,factor=2", AmountShiftDrift(from_day=10, factor=2.0)),
        (" amount-shift : from = 10 , days = 4 ", AmountShiftDrift(from_day=10, days=4)),
        ("terminal-burst:from=7", TerminalBurstDrift(from_day=7, days=7, terminals=40)),
        (
            "terminal-burst:from=7,terminals=100,days=2",
            TerminalBurstDrift(from_day=7, days=2, terminals=100),
        ),
    ],
)
def test_parse_drift_reads_the_documented_syntax(
    text: str, expected: NewPatternDrift | AmountShiftDrift | TerminalBurstDrift
) -> None:
    spec = parse_drift(text)
    assert spec == expected
    assert parse_drift(format_drift(spec)) == spec


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("card-testing:from=3", "unknown kind 'card-testing'"),
        ("new-pattern", "missing parameters"),
        ("new-pattern:", "missing parameters"),
        ("new-pattern:from", "'from' is not key=value"),
        ("new-pattern:from=3,", "'' is not key=value"),
        ("amount-shift:from=3,from=4", "'from' is given twice"),
        ("amount-shift:from=3,factr=2", "factr: Extra inputs are not permitted"),
        ("amount-shift:factor=2", "from: Field required"),
        ("amount-shift:from=3,factor=-1", "factor: Input should be greater than 0"),
        ("amount-shift:from=-3", "from: Input should be greater than or equal to 0"),
        ("terminal-burst:from=3,terminals=many", "terminals: Input should be a valid integer"),
        ("new-pattern:from=3,days=0", "days: Input should be greater than or equal to 1"),
    ],
)
def test_parse_drift_names_the_bad_part(text: str, named: str) -> None:
    with pytest.raises(ValueError, match="drift spec") as caught:
        parse_drift(text)
    assert named in str(caught.value)


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        (AmountShiftDrift(from_day=50), "from=50 is not a simulated day"),
        (TerminalBurstDrift(from_day=3, terminals=5000), "terminals=5000 exceeds"),
        (NewPatternDrift(from_day=3, cards=1000), "cards=1000 exceeds"),
    ],
)
def test_the_config_rejects_drift_that_cannot_happen(
    small_config: SimulatorConfig,
    spec: NewPatternDrift | AmountShiftDrift | TerminalBurstDrift,
    named: str,
) -> None:
    with pytest.raises(ValidationError, match=named):
        SimulatorConfig.model_validate({**small_config.model_dump(), "drift": [spec]})


def test_the_config_accepts_drift_as_plain_dicts() -> None:
    config = SimulatorConfig.model_validate(
        {"days": 40, "drift": [{"kind": "amount-shift", "from_day": 3, "factor": 2}]}
    )
    assert config.drift == (AmountShiftDrift(from_day=3, factor=2.0),)


# -- effects ------------------------------------------------------------------------------------
def test_amount_shift_multiplies_amounts_from_its_day_only(
    small_frame: pd.DataFrame, small_config: SimulatorConfig
) -> None:
    shifted = _with(small_config, f"amount-shift:from={DAY},days=10,factor=2")
    pd.testing.assert_frame_equal(_before(shifted, DAY), _before(small_frame, DAY))
    after = small_frame[TX_TIME_DAYS] >= DAY + 10
    pd.testing.assert_frame_equal(shifted[after], small_frame[after])
    inside = (small_frame[TX_TIME_DAYS] >= DAY) & ~after
    plain = inside & (shifted[TX_FRAUD_SCENARIO] != 3) & (small_frame[TX_FRAUD_SCENARIO] != 3)
    assert np.allclose(shifted.loc[plain, TX_AMOUNT], (small_frame.loc[plain, TX_AMOUNT] * 2))
    # Doubling moves many more amounts over 220: scenario 1 grows in the window.
    grown = (shifted.loc[inside, TX_FRAUD_SCENARIO] == 1).sum()
    assert grown > 5 * max((small_frame.loc[inside, TX_FRAUD_SCENARIO] == 1).sum(), 1)
    assert (shifted.loc[inside & (shifted[TX_AMOUNT] > 220), TX_FRAUD] == 1).all()


def test_terminal_burst_compromises_many_terminals_for_its_days_only(
    small_frame: pd.DataFrame, small_config: SimulatorConfig
) -> None:
    burst = _with(small_config, f"terminal-burst:from={DAY},terminals=100,days=5")
    pd.testing.assert_frame_equal(_before(burst, DAY), _before(small_frame, DAY))
    after = small_frame[TX_TIME_DAYS] >= DAY + 5
    pd.testing.assert_frame_equal(burst[after], small_frame[after])
    inside = ~after & (small_frame[TX_TIME_DAYS] >= DAY)
    unchanged = [c for c in burst.columns if c not in (TX_FRAUD, TX_FRAUD_SCENARIO)]
    pd.testing.assert_frame_equal(burst[unchanged], small_frame[unchanged])
    new = inside & (burst[TX_FRAUD_SCENARIO] == 2) & (small_frame[TX_FRAUD_SCENARIO] != 2)
    assert new.sum() > 100
    # All of it on at most 100 terminals, every transaction there in the window fraud.
    terminals = burst.loc[new, TERMINAL_ID].unique()
    assert 50 < len(terminals) <= 100
    there = inside & burst[TERMINAL_ID].isin(terminals)
    assert burst.loc[there, TX_FRAUD_SCENARIO].isin([2, 3]).all()


def test_new_pattern_adds_night_bursts_of_small_payments_from_its_day(
    small_frame: pd.DataFrame, small_config: SimulatorConfig
) -> None:
    drifted = _with(small_config, f"new-pattern:from={DAY},days=6,cards=4,burst=6")
    pd.testing.assert_frame_equal(_before(drifted, DAY), _before(small_frame, DAY))
    added = drifted[drifted[TX_FRAUD_SCENARIO] == 4]
    pd.testing.assert_frame_equal(
        drifted[drifted[TX_FRAUD_SCENARIO] != 4]
        .drop(columns=TRANSACTION_ID)
        .reset_index(drop=True),
        small_frame.drop(columns=TRANSACTION_ID),
    )
    assert added[TX_TIME_DAYS].between(DAY, DAY + 5).all()
    assert (added.groupby(TX_TIME_DAYS)[CUSTOMER_ID].nunique() == 4).all()
    assert added[TX_FRAUD].eq(1).all()
    assert added[TX_AMOUNT].between(0.5, 5.0).all()
    assert (added[TX_DATETIME].dt.hour <= 6).all()
    assert len(added) == pytest.approx(6 * 4 * 6, rel=0.35)
    # One terminal per burst (a card tested on one day), payments minutes apart.
    bursts = added.groupby([TX_TIME_DAYS, CUSTOMER_ID])
    assert (bursts[TERMINAL_ID].nunique() == 1).all()
    assert (bursts[TX_TIME_SECONDS].agg(lambda s: s.max() - s.min()) < 3600).all()
    assert drifted[TX_DATETIME].is_monotonic_increasing


def test_several_drifts_combine(small_config: SimulatorConfig) -> None:
    frame = _with(
        small_config,
        f"new-pattern:from={DAY}",
        f"amount-shift:from={DAY + 5},factor=1.2",
        f"terminal-burst:from={DAY + 10}",
    )
    scenario = frame[TX_FRAUD_SCENARIO]
    assert scenario.isin([0, 1, 2, 3, 4]).all()
    assert frame.loc[scenario == 4, TX_TIME_DAYS].min() == DAY
    assert (frame[TRANSACTION_ID].to_numpy() == np.arange(len(frame))).all()
