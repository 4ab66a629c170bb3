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
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from churnguard.data import _synthetic_params as p
from churnguard.data.schema import (
    CATEGORIES,
    ID_COLUMN,
    INTERNET_ADDONS,
    NO_INTERNET,
    NO_PHONE,
    NUMERIC_RANGES,
    RAW_COLUMNS,
    TARGET_COLUMN,
    YES_NO,
)

__all__ = ["SHIFTABLE_COLUMNS", "DriftSpec", "generate_customers"]

Codes = NDArray[np.intp]
Floats = NDArray[np.float64]
Flags = NDArray[np.bool_]

#: Numeric columns a `DriftSpec` can scale; TotalCharges follows them.
SHIFTABLE_COLUMNS: Final = ("MonthlyCharges", "tenure")
#: Values fixed by a rule on another column, so a category mix may not set them.
_STRUCTURAL_VALUES: Final = {
    "MultipleLines": NO_PHONE,
    **dict.fromkeys(INTERNET_ADDONS, NO_INTERNET),
}
_TOLERANCE: Final = 1e-6
#: customerID is 4 digits, a dash and 5 capital letters.
_ID_SPACE: Final = 10**4 * 26**5
#: Keeps the id arithmetic inside int64 and ids unique.
_MAX_ROWS: Final = 100_000_000


@dataclass(frozen=True)
class DriftSpec:
    """How a synthetic batch departs from the reference population.

    Drift enters at its column's place in the causal order, so downstream columns respond: a
    Contract mix changes tenure, payment method and churn; a tenure factor changes the add-ons,
    TotalCharges and churn. The churn model itself (P(churn | features)) only changes through
    ``churn_logit_shift`` and ``churn_coefficient_scale``.

    Attributes:
        numeric_shift: Multiplicative factor per column of `SHIFTABLE_COLUMNS`, e.g.
            ``{"MonthlyCharges": 1.2}``. Results are clipped to the schema ranges, tenure is
            rounded to whole months and TotalCharges is recomputed from both.
        category_mix: New distribution of a categorical column, e.g.
            ``{"Contract": {"Month-to-month": 0.8, "One year": 0.1, "Two year": 0.1}}``. It replaces
            the column's conditional distribution for every customer; values left out get
            probability 0. For MultipleLines and the internet add-ons the mix is over "No"/"Yes"
            among customers with phone/internet service: "No phone service" and
            "No internet service" follow PhoneService/InternetService and are rejected here.
        churn_logit_shift: Added to every customer's churn log-odds (+1 raises the churn rate).
        churn_coefficient_scale: Multiplies the churn model's feature effects (>= 0): 1 is
            unchanged, 0 makes churn independent of the features (concept drift). A calibrated
            intercept keeps the reference churn rate (within about 0.01 for scales 0 to 3), so
            this drifts P(churn | features) without changing how many customers churn.

    Raises:
        ValueError: If a column, value, probability or factor is invalid; the message names it
            and lists what is allowed.
    """

    numeric_shift: Mapping[str, float] = field(default_factory=dict)
    category_mix: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    churn_logit_shift: float = 0.0
    churn_coefficient_scale: float = 1.0

    def __post_init__(self) -> None:
        _check_numeric_shift(self.numeric_shift)
        for column, mix in self.category_mix.items():
            _check_category_mix(column, mix)
        if not math.isfinite(self.churn_logit_shift):
            raise ValueError(f"churn_logit_shift must be finite, got {self.churn_logit_shift!r}")
        if not (math.isfinite(self.churn_coefficient_scale) and self.churn_coefficient_scale >= 0):
            raise ValueError(
                "churn_coefficient_scale must be a finite number >= 0, "
                f"got {self.churn_coefficient_scale!r}"
            )
        # Frozen copies: later edits to the caller's dicts cannot bypass the validation.
        mixes = {column: MappingProxyType(dict(mix)) for column, mix in self.category_mix.items()}
        object.__setattr__(self, "numeric_shift", MappingProxyType(dict(self.numeric_shift)))
        object.__setattr__(self, "category_mix", MappingProxyType(mixes))


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(repr(value) for value in values)


def _check_numeric_shift(numeric_shift: Mapping[str, float]) -> None:
    for column, factor in numeric_shift.items():
        if column not in SHIFTABLE_COLUMNS:
            raise ValueError(
                f"numeric_shift has unknown column {column!r}; allowed columns: "
                f"{_quoted(SHIFTABLE_COLUMNS)} (TotalCharges is recomputed from them)"
            )
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(
                f"numeric_shift[{column!r}] must be a positive finite factor, got {factor!r}"
            )


def _check_category_mix(column: str, mix: Mapping[str, float]) -> None:
    if column not in CATEGORIES:
        raise ValueError(
            f"category_mix has unknown column {column!r}; allowed columns: {_quoted(list(CATEGORIES))}"
        )
    allowed = tuple(v for v in CATEGORIES[column] if v != _STRUCTURAL_VALUES.get(column))
    for value, probability in mix.items():
        if value not in allowed:
            reason = "follows another column by rule" if value in CATEGORIES[column] else "unknown"
            raise ValueError(
                f"category_mix[{column!r}] value {value!r} is {reason}; "
                f"allowed values: {_quoted(allowed)}"
            )
        if not (math.isfinite(probability) and probability >= 0):
            raise ValueError(
                f"category_mix[{column!r}][{value!r}] must be a probability >= 0, "
                f"got {probability!r}"
            )
    total = math.fsum(mix.values())
    if abs(total - 1.0) > _TOLERANCE:
        raise ValueError(
            f"category_mix[{column!r}] probabilities sum to {total:.6g}, not 1 "
            f"(tolerance {_TOLERANCE:g}); values: {_quoted(allowed)}"
        )


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
        structural = _code(column, _STRUCTURAL_VALUES[column])
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
    features = {
        "one_year_contract": _is(profile, "Contract", "One year"),
        "two_year_contract": _is(profile, "Contract", "Two year"),
        "log1p_tenure": np.log1p(profile["tenure"]),
        "fibre_optic": _is(profile, "InternetService", "Fiber optic"),
        "no_internet": _is(profile, "InternetService", "No"),
        "electronic_check": _is(profile, "PaymentMethod", "Electronic check"),
        "paperless_billing": _is(profile, "PaperlessBilling", "Yes"),
        "senior": profile["SeniorCitizen"] == 1,
        "partner": _is(profile, "Partner", "Yes"),
        "dependents": _is(profile, "Dependents", "Yes"),
        "online_security": _is(profile, "OnlineSecurity", "Yes"),
        "tech_support": _is(profile, "TechSupport", "Yes"),
        "monthly_charges_per_100": monthly / 100.0,
    }
    log_odds = np.full(sampler.n_rows, p.CHURN_INTERCEPT)
    for name, coefficient in p.CHURN_COEFFICIENTS.items():
        log_odds += coefficient * features[name]
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
