from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from churnguard.api.metrics import observe_many

pytestmark = pytest.mark.unit
BUCKETS = (0.1, 0.25, 0.5, 0.75, 0.9)


def _histogram() -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry()
    return registry, Histogram("p", "probability", ["v"], buckets=BUCKETS, registry=registry)


def _samples(registry: CollectorRegistry) -> dict[str, float]:
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")  # when each histogram was made
    }


def test_observe_many_counts_as_observe_does_value_by_value() -> None:
    values = [*np.random.default_rng(3).uniform(0, 1, 1000), *BUCKETS, 0.0, 1.0]
    one_by_one, single = _histogram()
    for value in values:
        single.labels("a").observe(value)
    bulk, many = _histogram()
    observe_many(many.labels("a"), values)
    expected, got = _samples(one_by_one), _samples(bulk)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-12), name
    assert b'p_bucket{le="0.1",v="a"}' in generate_latest(bulk)


def test_observe_many_falls_back_to_observe_on_an_unknown_histogram() -> None:
    seen: list[float] = []

    class Plain:
        def observe(self, value: float) -> None:
            seen.append(value)

    observe_many(Plain(), [0.2, 0.7])  # type: ignore[arg-type]
    assert seen == [0.2, 0.7]
