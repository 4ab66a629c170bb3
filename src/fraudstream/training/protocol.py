"""The time-ordered protocol: train window, delay period, test window, and what is known when.

The handbook's protocol, as dates::

    [start, start+train)            train: the model learns from these transactions
    [start+train, start+train+delay) delay: transactions exist, their labels are not known yet
    [.., ..+test)                   test: one day at a time

* **No peeking.** A training label is used only if it was known at the end of the delay period
  (``TX_LABEL_DATETIME <= start + train + delay``); a fraud not yet reported then counts as
  genuine, as it would for a system retrained that day.
* **Known-compromised cards** leave the test set: a card with a fraud in the training window is
  known from the first test day; a fraud on delay-period day ``i`` (0-based) becomes known
  before test day ``i + 1`` — each day's frauds a week late, exactly the handbook's rule.
* **Prequential folds** for model selection replay the same protocol earlier in time: fold 0's
  test window is the real training window (its labels are known when the model is trained), and
  each further fold moves back by one test length. No fold touches a test day.
* The **threshold period** is the delay period: its transactions are there, and the decision
  threshold needs only scores, not labels. Like the test days, it leaves out the cards already
  known to be compromised on each day (they are blocked, not investigated).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from fraudstream.transactions.contract import (
    CUSTOMER_ID,
    TX_DATETIME,
    TX_FRAUD,
    TX_LABEL_DATETIME,
)

Days = Annotated[int, Field(ge=1, le=366)]


class ProtocolConfig(BaseModel):
    """The windows of one train/test run, in whole days from ``start_date``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_date: date = date(2018, 7, 25)
    train_days: Days = 7
    delay_days: Annotated[int, Field(ge=0, le=366)] = 7
    test_days: Days = 7
    #: Prequential validation folds for model selection (each one test length earlier).
    folds: Annotated[int, Field(ge=1, le=12)] = 3

    def shifted(self, days: int) -> ProtocolConfig:
        """The same protocol with every window moved by ``days``."""
        return self.model_copy(update={"start_date": self.start_date + timedelta(days=days)})

    @property
    def train_end(self) -> date:
        """First day after the training window."""
        return self.start_date + timedelta(days=self.train_days)

    @property
    def test_start(self) -> date:
        """First test day."""
        return self.train_end + timedelta(days=self.delay_days)

    @property
    def test_end(self) -> date:
        """First day after the test window."""
        return self.test_start + timedelta(days=self.test_days)

    def train_window(self) -> str:
        """The training window as ``first..last`` day."""
        return f"{self.start_date}..{self.train_end - timedelta(days=1)}"

    def test_window(self) -> str:
        """The test window as ``first..last`` day (what the registry compares models on)."""
        return f"{self.test_start}..{self.test_end - timedelta(days=1)}"

    def validation_folds(self) -> list[ProtocolConfig]:
        """The prequential folds, each one test length earlier than the one before.

        Fold 0 tests on the real training window.
        """
        back = self.delay_days + self.test_days
        return [self.shifted(-(back + fold * self.test_days)) for fold in range(self.folds)]


@dataclass(frozen=True)
class Split:
    """The frames of one protocol run (rows keep the input's columns and index)."""

    train: pd.DataFrame
    #: The delay period's transactions (labels unused): where the threshold is chosen.
    threshold_period: pd.DataFrame
    test: pd.DataFrame
    protocol: ProtocolConfig


def _day(frame: pd.DataFrame) -> pd.Series:
    days: pd.Series = frame[TX_DATETIME].dt.normalize()
    return days


def _between(frame: pd.DataFrame, first: date, end: date) -> pd.DataFrame:
    days = _day(frame)
    return frame[(days >= pd.Timestamp(first)) & (days < pd.Timestamp(end))]


def known_labels(frame: pd.DataFrame, known_by: pd.Timestamp) -> pd.Series:
    """``TX_FRAUD`` as known at ``known_by``: frauds reported later count as genuine."""
    known = frame[TX_LABEL_DATETIME] <= known_by
    return (frame[TX_FRAUD].astype(bool) & known).astype("int64")


def _without_known_cards(
    frame: pd.DataFrame, protocol: ProtocolConfig, first: date, end: date
) -> pd.DataFrame:
    """The days ``[first, end)`` of ``frame``, each without the cards known compromised by then.

    A card is known compromised on day ``X`` when it has a fraud from the training window's start
    to day ``X - delay - 1``: frauds are reported a delay after they happen. On the test days this
    is exactly the handbook's rule (every training fraud, and delay-period day ``i - 1`` before
    test day ``i``).
    """
    history = _between(frame, protocol.start_date, end)
    frauds = history.loc[history[TX_FRAUD] == 1, [CUSTOMER_ID]].assign(day=_day(history))
    kept = []
    for offset in range((end - first).days):
        day = first + timedelta(days=offset)
        reported_by = pd.Timestamp(day - timedelta(days=protocol.delay_days + 1))
        known = set(frauds.loc[frauds["day"] <= reported_by, CUSTOMER_ID])
        today = _between(frame, day, day + timedelta(days=1))
        kept.append(today[~today[CUSTOMER_ID].isin(known)])
    return pd.concat(kept) if kept else frame.iloc[:0]


def split(frame: pd.DataFrame, protocol: ProtocolConfig) -> Split:
    """Cut ``frame`` (transactions with features) into the protocol's windows.

    The train frame's ``TX_FRAUD`` holds the labels known at the end of the delay period. The
    threshold period (the delay days) and the test days leave out the cards already known to be
    compromised on each day, so the alert budget is set on the traffic the investigators see; the
    test keeps the true labels.
    """
    window = _between(frame, protocol.start_date, protocol.train_end)
    train = window.assign(**{TX_FRAUD: known_labels(window, pd.Timestamp(protocol.test_start))})
    return Split(
        train=train,
        threshold_period=_without_known_cards(
            frame, protocol, protocol.train_end, protocol.test_start
        ),
        test=_without_known_cards(frame, protocol, protocol.test_start, protocol.test_end),
        protocol=protocol,
    )


__all__ = ["ProtocolConfig", "Split", "known_labels", "split"]
