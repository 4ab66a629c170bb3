"""Which raw customer fields each encoded model column comes from.

Explanations are computed on the encoded columns the classifier sees; retention teams reason
about the customer's fields. :func:`encoded_sources` maps every encoded column of a fitted
feature pipeline back to its raw fields, so contributions can be aggregated per field (an
engineered feature built from several fields is shared equally among them).
"""

from __future__ import annotations

from typing import Final

from sklearn.pipeline import Pipeline

from churnguard.data.schema import INTERNET_ADDONS
from churnguard.features.transformers import TENURE_BUCKET

#: The raw fields every engineered feature is computed from.
ENGINEERED_SOURCES: Final[dict[str, tuple[str, ...]]] = {
    TENURE_BUCKET: ("tenure",),
    "n_services": ("PhoneService", "MultipleLines", "InternetService", *INTERNET_ADDONS),
    "charges_ratio": ("TotalCharges", "tenure", "MonthlyCharges"),
    "avg_monthly_spend": ("TotalCharges", "tenure"),
    "is_month_to_month": ("Contract",),
    "has_fiber": ("InternetService",),
    "pays_electronic_check": ("PaymentMethod",),
    "has_auto_payment": ("PaymentMethod",),
    "fiber_without_tech_support": ("InternetService", "TechSupport"),
}


def encoded_sources(feature_pipeline: Pipeline) -> dict[str, tuple[str, ...]]:
    """Map each output column of a fitted feature pipeline to the raw fields behind it.

    One-hot columns are traced through the encoder's own ``feature_names_in_``/``categories_``
    (no parsing of column names); other columns are named after their input column.
    """
    encode = feature_pipeline.named_steps["encode"]
    sources: dict[str, tuple[str, ...]] = {}
    for name, transformer, columns in encode.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        if hasattr(transformer, "categories_"):
            names = transformer.get_feature_names_out(columns)
            inputs = [
                c for c, cats in zip(columns, transformer.categories_, strict=True) for _ in cats
            ]
            pairs = zip(names, inputs, strict=True)
        else:
            pairs = zip(columns, columns, strict=True)
        for output, column in pairs:
            sources[str(output)] = ENGINEERED_SOURCES.get(str(column), (str(column),))
    return sources


__all__ = ["ENGINEERED_SOURCES", "encoded_sources"]
