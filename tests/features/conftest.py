"""Fixtures of the feature tests: processed frames built from synthetic customers."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from churnguard.data.schema import (
    CATEGORIES,
    ID_COLUMN,
    INTERNET_ADDONS,
    NO_INTERNET,
    NO_PHONE,
    RAW_COLUMNS,
    TARGET_COLUMN,
)
from churnguard.features import FeatureConfig


def _handmade_raw_customers(n_rows: int, seed: int) -> pd.DataFrame:
    """Raw Telco-shaped customers, used only when the synthetic generator is unavailable."""
    rng = np.random.default_rng(seed)
    frame: dict[str, object] = {
        column: rng.choice([v for v in values if v not in (NO_PHONE, NO_INTERNET)], n_rows)
        for column, values in CATEGORIES.items()
    }
    frame["MultipleLines"] = np.where(
        frame["PhoneService"] == "No", NO_PHONE, frame["MultipleLines"]
    )
    for addon in INTERNET_ADDONS:
        frame[addon] = np.where(frame["InternetService"] == "No", NO_INTERNET, frame[addon])
    tenure = rng.integers(0, 73, n_rows)
    tenure[:3] = 0  # a few new customers with a blank TotalCharges
    monthly = np.round(rng.uniform(18.25, 118.75, n_rows), 2)
    total = np.round(tenure * monthly * rng.uniform(0.9, 1.1, n_rows), 2)
    frame |= {
        ID_COLUMN: [f"{i:04d}-HANDM" for i in range(n_rows)],
        "SeniorCitizen": rng.integers(0, 2, n_rows),
        "tenure": tenure,
        "MonthlyCharges": monthly,
        "TotalCharges": np.where(tenure == 0, " ", total.astype(str)),
        TARGET_COLUMN: rng.choice(["No", "Yes"], n_rows, p=[0.73, 0.27]),
    }
    return pd.DataFrame(frame)[list(RAW_COLUMNS)].astype(
        dict.fromkeys((ID_COLUMN, *CATEGORIES, "TotalCharges", TARGET_COLUMN), "str")
    )


def load_raw_customers(n_rows: int, seed: int = 42) -> pd.DataFrame:
    """Raw customers from the synthetic generator, or handmade ones if it is not there."""
    try:
        from churnguard.data.synthetic import generate_customers
    except ImportError:
        return _handmade_raw_customers(n_rows, seed)
    return generate_customers(n_rows, seed=seed)


def to_processed(raw: pd.DataFrame) -> pd.DataFrame:
    """Apply the processed contract: TotalCharges float (blank → 0.0), Churn 0/1 int64."""
    processed = raw.copy()
    total = processed["TotalCharges"].astype("str").str.strip()
    processed["TotalCharges"] = pd.to_numeric(total.where(total != "", "0")).astype("float64")
    processed[TARGET_COLUMN] = processed[TARGET_COLUMN].eq("Yes").astype("int64")
    return processed


@pytest.fixture(scope="session")
def _processed_customers() -> pd.DataFrame:
    return to_processed(load_raw_customers(400, seed=7))


@pytest.fixture
def processed_frame(_processed_customers: pd.DataFrame) -> pd.DataFrame:
    """400 processed customers (a fresh copy per test)."""
    return _processed_customers.copy()


@pytest.fixture
def other_processed_frame() -> pd.DataFrame:
    """A second, differently seeded processed frame."""
    return to_processed(load_raw_customers(150, seed=11))


@pytest.fixture
def feature_config() -> FeatureConfig:
    """The default feature settings."""
    return FeatureConfig(exclude=())


@pytest.fixture
def three_customers() -> pd.DataFrame:
    """Three handwritten processed customers with known engineered values.

    Row 0: new DSL customer (tenure 0) with every add-on, electronic check.
    Row 1: fiber without add-ons or tech support, two phone lines, credit card (automatic).
    Row 2: tenure 80, beyond the last bucket edge; phone only, no internet, mailed check.
    """
    return pd.DataFrame(
        {
            ID_COLUMN: ["0001-AAAAA", "0002-BBBBB", "0003-CCCCC"],
            "gender": ["Female", "Male", "Male"],
            "SeniorCitizen": [0, 1, 0],
            "Partner": ["Yes", "No", "No"],
            "Dependents": ["No", "No", "Yes"],
            "tenure": [0, 7, 80],
            "PhoneService": ["No", "Yes", "Yes"],
            "MultipleLines": [NO_PHONE, "Yes", "No"],
            "InternetService": ["DSL", "Fiber optic", "No"],
            **{addon: ["Yes", "No", NO_INTERNET] for addon in INTERNET_ADDONS},
            "Contract": ["Month-to-month", "One year", "Two year"],
            "PaperlessBilling": ["Yes", "No", "No"],
            "PaymentMethod": ["Electronic check", "Credit card (automatic)", "Mailed check"],
            "MonthlyCharges": [50.0, 100.0, 20.0],
            "TotalCharges": [0.0, 720.0, 1500.0],
            TARGET_COLUMN: [1, 0, 0],
        }
    )


@pytest.fixture
def handmade_raw_customers() -> Callable[[int, int], pd.DataFrame]:
    """The handmade fallback generator, so its output stays tested while the real one exists."""
    return _handmade_raw_customers
