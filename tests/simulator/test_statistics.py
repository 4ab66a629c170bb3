"""The simulated statistics match what the published design implies, on a mid-size run.

2,000 customers x 4,000 terminals x 60 days (about 230,000 transactions, 0.2 s). The expected
values follow from the design, with the realised customer profiles:

- rows: days x P(time inside the day) x the sum of the daily rates of customers with a terminal
  in reach. Poisson noise is 0.2 %; the tolerance is 1 %.
- scenario 1: rows x the rate-weighted P(Normal(m, m/2) > 220), less what scenarios 2 and 3
  later take. About 125 expected: Poisson sd 9 %, tolerance 35 % (about 4 sd).
- scenario 2: each day d, 2 x min(d + 1, 28) of the terminals are compromised; a terminal carries
  1/terminals of the traffic on average. Terminal popularity varies, so the spread is wider than
  Poisson: across 12 seeds the ratio stayed within 0.93-1.04; tolerance 20 %.
- scenario 3: each window holds min(14, days left) x (rows per card-day) transactions, of which
  n // 3 (on average n/3 - 1/3) become fraud. Across 12 seeds 0.90-1.06; tolerance 20 %.

The reference size (5,000 x 10,000 x 183 days) is compared with the handbook's figures in
benchmarks/simulate.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fraudstream.simulator import SimulatorConfig, simulate
from fraudstream.simulator.population import draw_population
from fraudstream.transactions.contract import TX_FRAUD_SCENARIO, TX_TIME_DAYS
from fraudstream.transactions.summary import summarize

pytestmark = pytest.mark.data

MID = SimulatorConfig(customers=2000, terminals=4000, days=60, seed=3)
_IN_DAY = stats.norm.cdf(43_200 / 20_000) - stats.norm.cdf(-43_200 / 20_000)


@pytest.fixture(scope="module")
def mid_frame() -> pd.DataFrame:
    return simulate(MID)


@pytest.fixture(scope="module")
def daily_rates() -> tuple[np.ndarray, np.ndarray]:
    population = draw_population(MID.seed, MID.customers, MID.terminals, MID.radius)
    rate = population.mean_daily_transactions * (population.reachable_count > 0)
    over_220 = stats.norm.sf(220, population.mean_amount, population.std_amount)
    return rate, over_220


def _counts(frame: pd.DataFrame) -> np.ndarray:
    return frame[TX_FRAUD_SCENARIO].value_counts().reindex(range(5), fill_value=0).to_numpy()


def test_rows_match_the_daily_rates(
    mid_frame: pd.DataFrame, daily_rates: tuple[np.ndarray, np.ndarray]
) -> None:
    rate, _ = daily_rates
    expected = MID.days * _IN_DAY * rate.sum()
    assert len(mid_frame) == pytest.approx(expected, rel=0.01)


def test_large_amount_fraud_matches_the_amount_distribution(
    mid_frame: pd.DataFrame, daily_rates: tuple[np.ndarray, np.ndarray]
) -> None:
    rate, over_220 = daily_rates
    counts = _counts(mid_frame)
    untouched = 1 - (counts[2] + counts[3]) / len(mid_frame)
    expected = len(mid_frame) * (rate * over_220).sum() / rate.sum() * untouched
    assert counts[1] == pytest.approx(expected, rel=0.35)


def test_terminal_fraud_matches_the_compromised_share_of_terminals(
    mid_frame: pd.DataFrame,
) -> None:
    day = np.arange(MID.days)
    per_day = mid_frame.groupby(TX_TIME_DAYS).size().reindex(day, fill_value=0).to_numpy()
    counts = _counts(mid_frame)
    compromised = 2 * np.minimum(day + 1, 28)
    expected = (per_day * compromised / MID.terminals).sum() * (1 - counts[3] / len(mid_frame))
    assert counts[2] == pytest.approx(expected, rel=0.20)


def test_card_fraud_matches_a_third_of_the_compromised_cards_transactions(
    mid_frame: pd.DataFrame,
) -> None:
    per_card_day = len(mid_frame) / (MID.days * MID.customers)
    days_left = np.minimum(14, MID.days - np.arange(MID.days))
    expected = (3 * (days_left * per_card_day / 3 - 1 / 3)).sum()
    assert _counts(mid_frame)[3] == pytest.approx(expected, rel=0.20)


def test_summary_reports_the_rates_and_nearly_every_customer_active(
    mid_frame: pd.DataFrame,
) -> None:
    summary = summarize(mid_frame)
    counts = _counts(mid_frame)
    assert summary.rows == len(mid_frame)
    assert summary.frauds == counts[1:].sum()
    assert summary.fraud_rate == pytest.approx(counts[1:].sum() / len(mid_frame))
    assert summary.scenario_counts == dict(enumerate(counts.tolist()))
    assert sum(summary.scenario_shares.values()) == pytest.approx(1.0)
    assert summary.scenario_counts[4] == 0
    # Inactive: a rate near 0 gives no transaction in 60 days (about 1/(4 x 58) of the cards).
    assert summary.active_customers >= 0.985 * MID.customers
    assert summary.active_terminals > 0.9 * MID.terminals
    assert summary.first_datetime is not None
    assert summary.first_datetime.date() == MID.start_date
    assert summary.last_datetime is not None
    assert (summary.last_datetime - summary.first_datetime).days == MID.days - 1


def test_summary_of_an_empty_frame_is_zero(mid_frame: pd.DataFrame) -> None:
    summary = summarize(mid_frame.iloc[:0])
    assert summary.rows == summary.frauds == 0
    assert summary.fraud_rate == 0.0
    assert summary.first_datetime is None
    assert set(summary.scenario_shares.values()) == {0.0}
