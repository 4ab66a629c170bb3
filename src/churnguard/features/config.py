"""Settings of the feature stage: tenure buckets, profile histograms and numeric scaling."""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Sequence
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from churnguard.data.schema import CATEGORICAL_FEATURES, NUMERIC_FEATURES

#: Default tenure bucket edges in months: 0-6, 6-12, 12-24, 24-48, 48-72 and 72+.
DEFAULT_TENURE_BINS: Final = (0, 6, 12, 24, 48, 72)


def validate_tenure_bins(bins: Sequence[object]) -> tuple[int, ...]:
    """Check tenure bucket edges and return them as a tuple of ints.

    Args:
        bins: Bucket edges in months.

    Returns:
        The edges as a tuple of plain ints.

    Raises:
        ValueError: If there are fewer than two edges, an edge is not a whole number, the first
            edge is negative or the edges are not strictly increasing.
    """
    example = f"e.g. {DEFAULT_TENURE_BINS}"
    edges = tuple(bins)
    if len(edges) < 2:
        raise ValueError(f"tenure_bins needs at least 2 edges, got {edges!r}; {example}")
    whole_months: list[int] = []
    for edge in edges:
        if isinstance(edge, bool) or not isinstance(edge, numbers.Integral):
            raise ValueError(
                f"tenure_bins must hold whole months (ints), got {edge!r} in {edges!r}; {example}"
            )
        whole_months.append(int(edge))
    months = tuple(whole_months)
    if months[0] < 0:
        raise ValueError(f"tenure_bins must start at 0 or above, got {months[0]}; {example}")
    for previous, current in itertools.pairwise(months):
        if current <= previous:
            raise ValueError(
                f"tenure_bins must be strictly increasing, but {current} follows {previous} "
                f"in {months!r}; list the edges in ascending order without repeats, {example}"
            )
    return months


class FeatureConfig(BaseModel):
    """How the feature pipeline and the reference profile are built.

    Attributes:
        tenure_bins: Edges of the tenure buckets in months. Bucket ``"a-b"`` holds
            ``a < tenure <= b`` (the first bucket also holds tenures at or below its lower edge);
            tenures above the last edge go to the open bucket ``"<last>+"``.
        profile_bins: Number of histogram bins per numeric column in the reference profile.
        scale_numeric: Standardise the continuous numeric features; otherwise pass them through.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenure_bins: tuple[StrictInt, ...] = Field(
        default=DEFAULT_TENURE_BINS,
        description="Strictly increasing tenure bucket edges in months (at least 2).",
    )
    profile_bins: int = Field(
        default=10, ge=2, le=100, description="Histogram bins per numeric column (2-100)."
    )
    scale_numeric: bool = Field(
        default=True, description="Standardise continuous numeric features (StandardScaler)."
    )

    exclude: tuple[str, ...] = Field(
        default=("gender",),
        description="Raw features the model must not use (protected attributes); engineered features are kept.",
    )

    @field_validator("exclude")
    @classmethod
    def _check_exclude(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = (*CATEGORICAL_FEATURES, *NUMERIC_FEATURES)
        unknown = [name for name in value if name not in known]
        if unknown:
            msg = f"features.exclude names unknown feature(s) {unknown}; choose from {list(known)}"
            raise ValueError(msg)
        return value

    @field_validator("tenure_bins")
    @classmethod
    def _check_tenure_bins(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return validate_tenure_bins(value)
