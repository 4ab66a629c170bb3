"""Seeded synthetic Telco customers, with optional drift, for tests, demos and monitoring drills.

The generator follows a causal order fitted to the IBM Telco churn data (parameters in
``_synthetic_params``): demographics, contract, phone and internet service, tenure given contract
and internet type, add-ons given the internet type and tenure, billing, a price-list MonthlyCharges,
TotalCharges from tenure and price, and finally churn from a logistic model. Every column draws
from its own random stream, so two calls with the same seed but different drift share every value
the drift does not reach (common random numbers, handy for before/after comparisons).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from churnguard.data import _synthetic_params as p
from churnguard.data.drift import SHIFTABLE_COLUMNS, STRUCTURAL_VALUES, DriftSpec
from churnguard.data.schema import (
    CATEGORIES,
    ID_COLUMN,
    INTERNET_ADDONS,
    NUMERIC_RANGES,
    RAW_COLUMNS,
    TARGET_COLUMN,
    YES_NO,
)

__all__ = ["SHIFTABLE_COLUMNS", "DriftSpec", "generate_customers"]

Codes = NDArray[np.intp]
Floats = NDArray[np.float64]
Flags = NDArray[np.bool_]

#: customerID is 4 digits, a dash and 5 capital letters.
_ID_SPACE: Final = 10**4 * 26**5
#: Keeps the id arithmetic inside int64 and ids unique.
_MAX_ROWS: Final = 100_000_000


def _code(column: str, value: str) -> int:
    return CATEGORIES[column].index(value)


def _sigmoid(log_odds: Floats) -> Floats:
    return 1.0 / (1.0 + np.exp(-log_odds))


@dataclass(frozen=True)
class _Sampler:
    """Draws columns for one batch: one random stream per column, drift applied on the way."""

    n_rows: int
    streams: Mapping[str, np.random.Generator]
    drift: DriftSpec

    def uniform(self, column: str) -> Floats:
        return self.streams[column].random(self.n_rows)

    def category(
        self, column: str, table: Sequence[Sequence[float]], parent: Codes | None = None
    ) -> Codes:
        """Codes of `column` from P(column | parent row of `table`), or from its drift mix."""
        mix = self.drift.category_mix.get(column)
        if mix is not None:
            table, parent = [[mix.get(value, 0.0) for value in CATEGORIES[column]]], None
        cdf = np.cumsum(np.asarray(table, dtype=np.float64), axis=1)
        cdf /= cdf[:, -1:]
        bounds = cdf[0, :-1] if parent is None else cdf[parent, :-1]
        codes: Codes = (self.uniform(column)[:, None] >= bounds).sum(axis=1).astype(np.intp)
        return codes

    def optional_service(self, column: str, eligible: Flags, log_odds: Floats) -> Codes:
        """Codes of "Yes"/"No" for eligible customers, of the structural value for the others."""
        mix = self.drift.category_mix.get(column)
        p_yes = _sigmoid(log_odds) if mix is None else np.full(self.n_rows, mix.get("Yes", 0.0))
        subscribed = np.where(
            self.uniform(column) < p_yes, _code(column, "Yes"), _code(column, "No")
        )
        structural = _code(column, STRUCTURAL_VALUES[column])
        return np.where(eligible, subscribed, structural).astype(np.intp)


def _sample_tenure(sampler: _Sampler, contract: Codes, internet: Codes) -> NDArray[np.int64]:
    rng = sampler.streams["tenure"]
    is_new = rng.random(sampler.n_rows) < np.asarray(p.NEW_CUSTOMER_PROB_BY_CONTRACT)[contract]
    shape = np.asarray(p.TENURE_BETA_BY_CONTRACT_INTERNET)[3 * contract + internet]
    months = np.ceil(p.TENURE_MAX_OBSERVED * rng.beta(shape[:, 0], shape[:, 1]))
    tenure = np.where(is_new, 0.0, np.maximum(months, 1.0))
    shifted = np.rint(tenure * sampler.drift.numeric_shift.get("tenure", 1.0))
    return np.clip(shifted, *NUMERIC_RANGES["tenure"]).astype(np.int64)


def _sample_profile(sampler: _Sampler) -> dict[str, NDArray[np.int64] | Codes]:
    """Demographics, contract, tenure and services, as category codes (tenure in months)."""
    senior = (sampler.uniform("SeniorCitizen") < p.SENIOR_PROB).astype(np.intp)
    partner = sampler.category("Partner", p.PARTNER_PROBS_BY_SENIOR, senior)
    household = 2 * partner + senior
    contract = sampler.category("Contract", p.CONTRACT_PROBS_BY_PARTNER_SENIOR, household)
    phone = sampler.category("PhoneService", [p.PHONE_PROBS])
    has_phone = phone == _code("PhoneService", "Yes")
    internet_row = np.where(has_phone, 3 * senior + contract, 6)
    internet = sampler.category(
        "InternetService", p.INTERNET_PROBS_BY_SENIOR_CONTRACT, internet_row
    )
    tenure = _sample_tenure(sampler, contract, internet)
    has_internet = internet != _code("InternetService", "No")
    fibre = (internet == _code("InternetService", "Fiber optic")).astype(np.intp)
    tenure_share = tenure / p.TENURE_MAX_OBSERVED
    line_curve = np.asarray(p.MULTIPLE_LINES_LOGIT_BY_INTERNET)[internet]
    profile: dict[str, NDArray[np.int64] | Codes] = {
        "gender": sampler.category("gender", [p.GENDER_PROBS]),
        "SeniorCitizen": senior.astype(np.int64),
        "Partner": partner,
        "Dependents": sampler.category(
            "Dependents", p.DEPENDENTS_PROBS_BY_PARTNER_SENIOR, household
        ),
        "tenure": tenure,
        "PhoneService": phone,
        "MultipleLines": sampler.optional_service(
            "MultipleLines", has_phone, line_curve[:, 0] + line_curve[:, 1] * tenure_share
        ),
        "InternetService": internet,
        "Contract": contract,
        "PaperlessBilling": sampler.category(
            "PaperlessBilling", p.PAPERLESS_PROBS_BY_INTERNET, internet
        ),
        "PaymentMethod": sampler.category("PaymentMethod", p.PAYMENT_PROBS_BY_CONTRACT, contract),
    }
    for addon in INTERNET_ADDONS:
        curve = np.asarray(p.ADDON_LOGIT_BY_INTERNET[addon])[fibre]
        log_odds = curve[:, 0] + curve[:, 1] * tenure_share
        profile[addon] = sampler.optional_service(addon, has_internet, log_odds)
    return profile


def _is(profile: Mapping[str, NDArray[np.int64] | Codes], column: str, value: str) -> Flags:
    return np.asarray(profile[column] == _code(column, value))


def _monthly_charges(sampler: _Sampler, profile: Mapping[str, Codes]) -> Floats:
    price = (
        p.MONTHLY_BASE
        + p.MONTHLY_PHONE * _is(profile, "PhoneService", "Yes")
        + p.MONTHLY_MULTIPLE_LINES * _is(profile, "MultipleLines", "Yes")
        + np.asarray(p.MONTHLY_INTERNET)[profile["InternetService"]]
        + sampler.streams["MonthlyCharges"].normal(0.0, p.MONTHLY_NOISE_SD, sampler.n_rows)
    )
    for addon in INTERNET_ADDONS:
        price += p.MONTHLY_ADDON[addon] * _is(profile, addon, "Yes")
    scaled = np.clip(price, *p.MONTHLY_OBSERVED_RANGE) * sampler.drift.numeric_shift.get(
        "MonthlyCharges", 1.0
    )
    monthly: Floats = np.round(np.clip(scaled, *NUMERIC_RANGES["MonthlyCharges"]), 2)
    return monthly


def _total_charges(sampler: _Sampler, tenure: NDArray[np.int64], monthly: Floats) -> Floats:
    noise = sampler.streams["TotalCharges"].standard_normal(sampler.n_rows)
    months = tenure.astype(np.float64)
    log_ratio = np.where(tenure >= 2, p.TOTAL_LOG_RATIO_SIGMA * noise / np.sqrt(months + 1e-9), 0.0)
    total = np.clip(months * monthly * np.exp(log_ratio), *NUMERIC_RANGES["TotalCharges"])
    return np.round(total, 2).astype(np.float64)


def _churn(sampler: _Sampler, profile: Mapping[str, Codes], monthly: Floats) -> Codes:
    log_odds = (
        p.CHURN_INTERCEPT
        + p.CHURN_PER_LOG1P_TENURE * np.log1p(profile["tenure"])
        + p.CHURN_PER_100_MONTHLY_CHARGES * monthly / 100.0
        + p.CHURN_SENIOR * profile["SeniorCitizen"]
    )
    for (column, value), coefficient in p.CHURN_INDICATORS.items():
        log_odds += coefficient * _is(profile, column, value)
    # Scaling around the reference log-odds plus a calibrated offset keeps the churn rate put.
    reference = math.log(p.CHURN_RATE / (1.0 - p.CHURN_RATE))
    drift = sampler.drift
    scale = drift.churn_coefficient_scale
    offset = float(np.interp(scale, p.CHURN_SCALE_GRID, p.CHURN_SCALE_OFFSET))
    log_odds = reference + offset + scale * (log_odds - reference)
    churned = sampler.uniform(TARGET_COLUMN) < _sigmoid(log_odds + drift.churn_logit_shift)
    # A customer with tenure 0 has not finished a billing month and cannot have left yet (all 11
    # such customers in the IBM data stayed).
    return (churned & (profile["tenure"] > 0)).astype(np.intp)


def _customer_ids(rng: np.random.Generator, n_rows: int) -> pd.api.extensions.ExtensionArray:
    """Unique ids by construction: an affine bijection of the row index on the id space."""
    # multiplier = 1 mod 130 is coprime with 10**4 * 26**5 = 2**9 * 5**4 * 13**5.
    multiplier = 130 * int(rng.integers(2**23, 2**24)) + 1
    code = (
        np.arange(n_rows, dtype=np.int64) * multiplier + int(rng.integers(_ID_SPACE))
    ) % _ID_SPACE
    letters, number = np.divmod(code, 10**4)
    chars = np.empty((n_rows, 10), dtype=np.uint32)
    chars[:, :4] = ord("0") + number[:, None] // 10 ** np.arange(3, -1, -1) % 10
    chars[:, 4] = ord("-")
    chars[:, 5:] = ord("A") + letters[:, None] // 26 ** np.arange(4, -1, -1) % 26
    return pd.array(chars.view(np.dtype("U10")).ravel(), dtype="str")


def _amount_text(amounts: Floats, blank: Flags) -> pd.Series:
    """Format like the raw file (shortest decimal: "1889.5", "2962"); " " where `blank`."""
    whole, cents = np.divmod(np.rint(amounts * 100).astype(np.int64), 100)
    whole_text = pd.array([str(i) for i in range(int(whole.max()) + 1)], dtype="str")
    cents_text = pd.array(
        ["." + f"{c:02d}".rstrip("0") if c else "" for c in range(100)], dtype="str"
    )
    text = pd.Series(whole_text.take(whole)) + pd.Series(cents_text.take(cents))
    return text.mask(blank, " ")


def generate_customers(
    n_rows: int,
    seed: int = 42,
    drift: DriftSpec | None = None,
    *,
    blank_total_charges: bool = True,
) -> pd.DataFrame:
    """Generate synthetic Telco customers shaped like the IBM Telco churn data.

    Args:
        n_rows: Number of customers, at least 1.
        seed: Seed of the random streams; the same seed and drift give the same frame.
        drift: Departure from the reference population; None generates the reference.
        blank_total_charges: Write TotalCharges as a single space for tenure-0 customers, as the
            raw file does; if False they get "0".

    Returns:
        A frame with the columns of `RAW_COLUMNS` in order and the dtypes `pd.read_csv` gives
        the raw file: text columns (including TotalCharges) as ``str``, SeniorCitizen and tenure
        as int64, MonthlyCharges as float64 rounded to cents.

    Raises:
        ValueError: If `n_rows` is not between 1 and 100,000,000.
    """
    if not 1 <= n_rows <= _MAX_ROWS:
        raise ValueError(f"n_rows must be between 1 and {_MAX_ROWS:,}, got {n_rows!r}")
    spec = DriftSpec() if drift is None else drift
    streams = dict(
        zip(RAW_COLUMNS, np.random.default_rng(seed).spawn(len(RAW_COLUMNS)), strict=True)
    )
    sampler = _Sampler(n_rows, streams, spec)
    profile = _sample_profile(sampler)
    monthly = _monthly_charges(sampler, profile)
    total = _total_charges(sampler, profile["tenure"], monthly)
    profile[TARGET_COLUMN] = _churn(sampler, profile, monthly)
    columns: dict[str, object] = {
        ID_COLUMN: _customer_ids(streams[ID_COLUMN], n_rows),
        "MonthlyCharges": monthly,
        "TotalCharges": _amount_text(total, (profile["tenure"] == 0) & blank_total_charges),
    }
    for column, codes in profile.items():
        values = CATEGORIES.get(column, YES_NO if column == TARGET_COLUMN else None)
        columns[column] = (
            codes if values is None else pd.array(list(values), dtype="str").take(codes)
        )
    return pd.DataFrame(columns)[list(RAW_COLUMNS)]
