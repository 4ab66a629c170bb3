from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
import pytest

from churnguard.data.config import SplitConfig
from churnguard.data.preprocess import coerce_types, preprocess_data, processed_schema
from churnguard.data.schema import FEATURE_COLUMNS, ID_COLUMN

pytestmark = pytest.mark.unit


def test_coerce_types_fills_blank_total_charges_with_zero(raw_customers: pd.DataFrame) -> None:
    raw = raw_customers.copy()
    raw.loc[[0, 5], "tenure"] = 0
    raw.loc[[0, 5], "TotalCharges"] = " "
    out = coerce_types(raw)
    new = raw["TotalCharges"].eq(" ")
    assert (out.loc[new, "TotalCharges"] == 0.0).all()
    assert out["TotalCharges"].dtype == "float64"
    assert out["Churn"].isin([0, 1]).all()
    assert out["Churn"].sum() == raw["Churn"].eq("Yes").sum()


def test_coerce_types_keeps_records_without_a_target(raw_customers: pd.DataFrame) -> None:
    features = raw_customers[[*FEATURE_COLUMNS]].head(1)
    out = coerce_types(features.assign(**{ID_COLUMN: "0001-AAAAA"})[[ID_COLUMN, *FEATURE_COLUMNS]])
    processed_schema(with_target=False).validate(out)


def test_coerce_types_does_not_modify_its_input(raw_customers: pd.DataFrame) -> None:
    before = raw_customers.copy()
    coerce_types(raw_customers)
    pd.testing.assert_frame_equal(raw_customers, before)


def test_split_sizes_follow_the_configured_fractions(raw_customers: pd.DataFrame) -> None:
    splits = preprocess_data(raw_customers, SplitConfig(train=0.6, validation=0.2, test=0.2))
    sizes = {name: len(frame) for name, frame in splits.items()}
    assert sum(sizes.values()) == len(raw_customers)
    assert sizes == {"train": 240, "validation": 80, "test": 80}


def test_splits_are_disjoint_and_cover_every_customer(raw_customers: pd.DataFrame) -> None:
    splits = preprocess_data(raw_customers)
    ids = [set(frame[ID_COLUMN]) for _, frame in splits.items()]
    assert ids[0].isdisjoint(ids[1])
    assert ids[0].isdisjoint(ids[2])
    assert ids[1].isdisjoint(ids[2])
    assert set().union(*ids) == set(raw_customers[ID_COLUMN])


def test_split_is_stratified_by_churn(raw_customers: pd.DataFrame) -> None:
    overall = raw_customers["Churn"].eq("Yes").mean()
    for _, frame in preprocess_data(raw_customers).items():
        assert frame["Churn"].mean() == pytest.approx(overall, abs=0.03)


def test_split_is_deterministic_for_a_seed_and_changes_with_it(raw_customers: pd.DataFrame) -> None:
    first = preprocess_data(raw_customers, SplitConfig(seed=1))
    again = preprocess_data(raw_customers, SplitConfig(seed=1))
    other = preprocess_data(raw_customers, SplitConfig(seed=2))
    pd.testing.assert_frame_equal(first.train, again.train)
    assert set(first.test[ID_COLUMN]) != set(other.test[ID_COLUMN])


def test_zero_validation_fraction_gives_an_empty_validation_split(
    raw_customers: pd.DataFrame,
) -> None:
    splits = preprocess_data(raw_customers, SplitConfig(train=0.8, validation=0.0, test=0.2))
    assert len(splits.validation) == 0
    assert len(splits.train) == 320
    assert list(splits.validation.columns) == list(splits.train.columns)


def test_every_split_satisfies_the_processed_schema(raw_customers: pd.DataFrame) -> None:
    for _, frame in preprocess_data(raw_customers).items():
        processed_schema().validate(frame)


def test_processed_schema_rejects_an_unencoded_target(raw_customers: pd.DataFrame) -> None:
    with pytest.raises(pa.errors.SchemaError):
        processed_schema().validate(raw_customers)
