"""The Telco customer contract: column names, order, allowed values and ranges.

This module is the single source of truth for what a customer record looks like. Ingestion,
validation, the synthetic generator, feature engineering and (later) the API schema all read it.
"""

from __future__ import annotations

from typing import Final

ID_COLUMN: Final = "customerID"
TARGET_COLUMN: Final = "Churn"

YES_NO: Final = ("No", "Yes")
NO_INTERNET: Final = "No internet service"
NO_PHONE: Final = "No phone service"
INTERNET_ADDONS: Final = (
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
)

#: Allowed values of every categorical feature, in a stable order.
CATEGORIES: Final[dict[str, tuple[str, ...]]] = {
    "gender": ("Female", "Male"),
    "Partner": YES_NO,
    "Dependents": YES_NO,
    "PhoneService": YES_NO,
    "MultipleLines": ("No", NO_PHONE, "Yes"),
    "InternetService": ("DSL", "Fiber optic", "No"),
    **dict.fromkeys(INTERNET_ADDONS, ("No", NO_INTERNET, "Yes")),
    "Contract": ("Month-to-month", "One year", "Two year"),
    "PaperlessBilling": YES_NO,
    "PaymentMethod": (
        "Bank transfer (automatic)",
        "Credit card (automatic)",
        "Electronic check",
        "Mailed check",
    ),
}

#: Inclusive plausible ranges of the numeric features (wider than the observed data on purpose:
#: observed tenure is 0-72 months, monthly charges 18.25-118.75).
NUMERIC_RANGES: Final[dict[str, tuple[float, float]]] = {
    "SeniorCitizen": (0, 1),
    "tenure": (0, 120),
    "MonthlyCharges": (0.0, 500.0),
    "TotalCharges": (0.0, 60_000.0),
}
INTEGER_COLUMNS: Final = ("SeniorCitizen", "tenure")
FLOAT_COLUMNS: Final = ("MonthlyCharges", "TotalCharges")

#: Column order of a raw Telco file (the IBM file's order).
RAW_COLUMNS: Final = (
    ID_COLUMN,
    "gender",
    "SeniorCitizen",
    "Partner",
    "Dependents",
    "tenure",
    "PhoneService",
    "MultipleLines",
    "InternetService",
    *INTERNET_ADDONS,
    "Contract",
    "PaperlessBilling",
    "PaymentMethod",
    "MonthlyCharges",
    "TotalCharges",
    TARGET_COLUMN,
)

#: The model's input columns: everything but the id and the target.
FEATURE_COLUMNS: Final = tuple(c for c in RAW_COLUMNS if c not in (ID_COLUMN, TARGET_COLUMN))
CATEGORICAL_FEATURES: Final = tuple(c for c in FEATURE_COLUMNS if c in CATEGORIES)
NUMERIC_FEATURES: Final = tuple(c for c in FEATURE_COLUMNS if c in NUMERIC_RANGES)

__all__ = [
    "CATEGORICAL_FEATURES",
    "CATEGORIES",
    "FEATURE_COLUMNS",
    "FLOAT_COLUMNS",
    "ID_COLUMN",
    "INTEGER_COLUMNS",
    "INTERNET_ADDONS",
    "NO_INTERNET",
    "NO_PHONE",
    "NUMERIC_FEATURES",
    "NUMERIC_RANGES",
    "RAW_COLUMNS",
    "TARGET_COLUMN",
    "YES_NO",
]
