"""The Redis online feature store against a real Redis: parity with the offline features, and
what a stream does to it (re-deliveries, conflicts, out-of-order partitions, peeks, pruning)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import redis

from fraudstream.broker.process import free_port
from fraudstream.errors import ConfigError, ServiceError
from fraudstream.feature_store import (
    FEATURE_DEFINITION,
    FEATURE_NAMES,
    Aggregation,
    Entity,
    Feature,
    compute_features,
    feature_names,
)
from fraudstream.feature_store.online import OnlineFeatureStore, RedisConfig
from fraudstream.feature_store.online.frames import label_events, transaction_events
from fraudstream.feature_store.online.script import (
    compile_spec,
    render_script,
    script_aggregations,
)
from fraudstream.transactions import contract as c
from fraudstream.transactions.event import LabelEvent, TransactionEvent

pytestmark = pytest.mark.integration

#: Every aggregation with entities, windows and delays the declaration itself does not use.
VARIANTS = (
    Feature("T_MEAN_D3_W2", Aggregation.MEAN_AMOUNT, Entity.TERMINAL, 2, 3),
    Feature("C_COUNT_D1_W1", Aggregation.COUNT, Entity.CUSTOMER, 1, 1),
    Feature("C_RISK_D0_W5", Aggregation.FRAUD_RISK, Entity.CUSTOMER, 5, 0),
    Feature("T_FRAUDS_D1_W1", Aggregation.FRAUD_COUNT, Entity.TERMINAL, 1, 1),
    Feature("T_RATIO_W1", Aggregation.AMOUNT_RATIO, Entity.TERMINAL, 1),
    Feature("C_RATIO_D2_W3", Aggregation.AMOUNT_RATIO, Entity.CUSTOMER, 3, 2),
    Feature("T_GAP_W1", Aggregation.SECONDS_SINCE_PREVIOUS, Entity.TERMINAL, 1),
    Feature("C_RECENT_MAX_D1_W2", Aggregation.RECENT_MAX_AMOUNT_RATIO, Entity.CUSTOMER, 2, 1),
    Feature("C_SHARE_D0_W3", Aggregation.KNOWN_FRAUD_SHARE, Entity.CUSTOMER, 3, 0),
    Feature("T_SHARE_D2_W2", Aggregation.KNOWN_FRAUD_SHARE, Entity.TERMINAL, 2, 2),
    Feature("C_FIRST_FRAUD_W4", Aggregation.SECONDS_SINCE_FIRST_KNOWN_FRAUD, Entity.CUSTOMER, 4),
    Feature("C_LAST_GENUINE_W1", Aggregation.SECONDS_SINCE_LAST_KNOWN_GENUINE, Entity.CUSTOMER, 1),
    Feature("WEEKEND", Aggregation.WEEKEND),
    Feature("NIGHT", Aggregation.NIGHT),
    Feature("AMOUNT", Aggregation.AMOUNT),
)
PARITY = 1e-9


@dataclass(frozen=True)
class Log:
    """A transaction log in event order, its events, its labels and its offline features."""

    frame: pd.DataFrame
    events: list[TransactionEvent]
    labels: list[LabelEvent]  # in label-time order
    expected: np.ndarray  # (events x features), the declaration's columns


def make_log(frame: pd.DataFrame, definition: tuple[Feature, ...] = FEATURE_DEFINITION) -> Log:
    ordered = frame.sort_values([c.TX_DATETIME, c.TRANSACTION_ID]).reset_index(drop=True)
    labels = sorted(label_events(ordered), key=lambda label: label.tx_label_datetime)
    expected = compute_features(ordered, definition)[list(feature_names(definition))]
    return Log(ordered, transaction_events(ordered), labels, expected.to_numpy())


@dataclass
class Streamed:
    features: np.ndarray
    status: list[str]


def stream(
    store: OnlineFeatureStore,
    events: Sequence[TransactionEvent],
    labels: Sequence[LabelEvent],
    batch: int = 1,
) -> Streamed:
    """Enrich ``events`` in batches, in this order, applying before each batch every label known
    by its latest event's time (the scorer's watermark wait; labels before transactions at equal
    instants). ``labels`` are in label-time order."""
    rows, status, applied = [], [], 0
    for start in range(0, len(events), batch):
        chunk = events[start : start + batch]
        latest = max(event.tx_datetime for event in chunk)
        known = [lb for lb in labels[applied:] if lb.tx_label_datetime <= latest]
        if known:
            store.apply_labels(known)
            applied += len(known)
        enriched = store.enrich(chunk)
        rows.append(enriched.features)
        status += enriched.status
    return Streamed(np.vstack(rows), status)


def worst_differences(actual: np.ndarray, expected: np.ndarray, names: Sequence[str]) -> dict:
    worst = np.nanmax(np.abs(actual - expected), axis=0)
    return {name: float(w) for name, w in zip(names, worst, strict=True) if not w <= PARITY}


def dump(client: redis.Redis) -> dict[bytes, object]:
    """Every key with its content (hashes as dicts) and whether it expires."""
    state: dict[bytes, object] = {}
    for key in client.scan_iter(count=1_000):
        kind = client.type(key)
        content = client.hgetall(key) if kind == b"hash" else client.get(key)
        state[key] = (content, client.pttl(key) > 0)
    return state


@pytest.fixture(scope="module")
def log(transactions: pd.DataFrame) -> Log:
    """The small simulation (100 cards, 200 terminals, 30 days, every fraud scenario)."""
    return make_log(transactions)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def store(redis_url: str) -> Iterator[OnlineFeatureStore]:
    store = OnlineFeatureStore.from_config(RedisConfig(url=redis_url))
    yield store
    store.close()


@pytest.mark.unit
def test_the_script_implements_every_aggregation_of_the_vocabulary() -> None:
    assert script_aggregations() == {a.value for a in Aggregation}
    spec = compile_spec(FEATURE_DEFINITION + VARIANTS)
    assert [row.aggregation for row in spec] == [
        f.aggregation.value for f in FEATURE_DEFINITION + VARIANTS
    ]
    assert {row.aggregation for row in spec} == {a.value for a in Aggregation}
    entity_index = {None: 0, Entity.CUSTOMER: 1, Entity.TERMINAL: 2}
    for row, feature in zip(spec, FEATURE_DEFINITION + VARIANTS, strict=True):
        assert row.entity == entity_index[feature.entity]
        assert row.window_us == feature.window_days * 86_400 * 10**6
        assert row.delay_us == feature.delay_days * 86_400 * 10**6
    source = render_script(FEATURE_DEFINITION, grace_days=7, idle_ttl_days=60)
    assert "__" not in source.split("local DAY_US")[0].split("-- One row per feature")[1]


def test_streamed_features_equal_the_offline_features_event_by_event(
    store: OnlineFeatureStore, log: Log
) -> None:
    streamed = stream(store, log.events, log.labels)

    assert set(streamed.status) == {"new"}
    assert streamed.features.shape == (len(log.events), len(FEATURE_NAMES))
    assert worst_differences(streamed.features, log.expected, FEATURE_NAMES) == {}


def stressed(frame: pd.DataFrame, seed: int = 11) -> pd.DataFrame:
    """The simulation with what breaks careless code: ties in time broken by random ids, amounts
    not in whole cents, labels known at once or never."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    hourly = rng.random(len(out)) < 0.4
    out.loc[hourly, c.TX_DATETIME] = out.loc[hourly, c.TX_DATETIME].dt.floor("h")
    out[c.TRANSACTION_ID] = rng.permutation(len(out)) * 3 + 5
    odd = rng.random(len(out)) < 0.1
    out.loc[odd, c.TX_AMOUNT] = rng.random(int(odd.sum())) * 300
    at_once = rng.random(len(out)) < 0.1
    out.loc[at_once, c.TX_LABEL_DATETIME] = out.loc[at_once, c.TX_DATETIME]
    out.loc[rng.random(len(out)) < 0.03, c.TX_LABEL_DATETIME] = pd.NaT
    return out


def test_every_aggregation_with_other_windows_and_ties_equals_offline(
    redis_url: str, transactions: pd.DataFrame
) -> None:
    frame = stressed(transactions)
    assert frame[c.TX_DATETIME].duplicated().sum() > 100
    variants = make_log(frame, VARIANTS)
    store = OnlineFeatureStore.from_config(RedisConfig(url=redis_url), VARIANTS)

    streamed = stream(store, variants.events, variants.labels, batch=7)

    assert set(streamed.status) == {"new"}
    assert worst_differences(streamed.features, variants.expected, feature_names(VARIANTS)) == {}


def test_a_redelivered_batch_changes_nothing_and_gives_the_same_vectors(
    store: OnlineFeatureStore, client: redis.Redis, log: Log
) -> None:
    first = stream(store, log.events[:2_000], log.labels, batch=100)
    before = dump(client)

    again = store.enrich(log.events[1_000:1_500])

    assert set(again.status) == {"replayed"}
    np.testing.assert_array_equal(again.features, first.features[1_000:1_500])
    assert dump(client) == before


def test_a_duplicate_id_with_other_content_is_a_conflict(
    store: OnlineFeatureStore, client: redis.Redis, log: Log
) -> None:
    stream(store, log.events[:300], log.labels, batch=50)
    before = dump(client)
    original = log.events[250]
    changed = [
        original.model_copy(update={"tx_amount": original.tx_amount + 1.0}),
        original.model_copy(update={"tx_datetime": original.tx_datetime + timedelta(seconds=1)}),
        original.model_copy(update={"terminal_id": original.terminal_id + 1}),
    ]

    enriched = store.enrich([*changed, original])

    assert enriched.status == ("conflict", "conflict", "replayed", "replayed")
    assert np.isnan(enriched.features[:2]).all()
    assert dump(client) == before


def test_partitions_interleaved_differently_give_the_same_vectors(
    store: OnlineFeatureStore, log: Log
) -> None:
    """Cards keep their order (one partition each); partition 1 runs up to 20 hours late."""
    lag = timedelta(hours=20)
    late = [
        (e.tx_datetime + (lag if e.customer_id % 2 else timedelta(0)), i)
        for i, e in enumerate(log.events)
    ]
    order = [i for _, i in sorted(late)]
    assert order != sorted(order)

    in_time = stream(store, log.events, log.labels, batch=25)
    store.clear()
    interleaved = stream(store, [log.events[i] for i in order], log.labels, batch=25)

    np.testing.assert_array_equal(interleaved.features[np.argsort(order)], in_time.features)


def test_a_peek_changes_nothing_and_gives_what_recording_gives(
    store: OnlineFeatureStore, client: redis.Redis, log: Log
) -> None:
    stream(store, log.events[:1_000], log.labels, batch=100)
    store.apply_labels(
        [lb for lb in log.labels if lb.tx_label_datetime <= log.events[1_100].tx_datetime]
    )
    for n, event in enumerate(log.events[1_000:1_100]):
        before = dump(client) if n < 10 else {}
        peek = store.enrich([event], record=False)
        if n < 10:
            assert dump(client) == before
        recorded = store.enrich([event])
        assert peek.status == recorded.status == ("new",)
        np.testing.assert_array_equal(peek.features, recorded.features)


def test_enriched_gives_a_frame_of_the_declared_columns(
    store: OnlineFeatureStore, log: Log
) -> None:
    enriched = store.enrich(log.events[:10])

    frame = enriched.to_frame()

    assert list(frame.columns) == list(FEATURE_NAMES)
    assert len(frame) == len(enriched) == 10
    assert enriched.transaction_ids == tuple(e.transaction_id for e in log.events[:10])
    np.testing.assert_array_equal(frame.to_numpy(), enriched.features)
    assert store.enrich([]).features.shape == (0, len(FEATURE_NAMES))


SHORT = (
    Feature("C_COUNT_2D", Aggregation.COUNT, Entity.CUSTOMER, 2),
    Feature("T_COUNT_1D", Aggregation.COUNT, Entity.TERMINAL, 1),
    Feature("C_FRAUDS_2D", Aggregation.FRAUD_COUNT, Entity.CUSTOMER, 2),
)


def test_pruning_bounds_each_entitys_history_and_flags_late_redeliveries(
    redis_url: str, client: redis.Redis, log: Log
) -> None:
    config = RedisConfig(url=redis_url, grace_days=1)
    store = OnlineFeatureStore.from_config(config, SHORT)
    expected = compute_features(log.frame, SHORT)[list(feature_names(SHORT))].to_numpy()

    streamed = stream(store, log.events, log.labels, batch=50)

    assert set(streamed.status) == {"new"}
    assert worst_differences(streamed.features, expected, feature_names(SHORT)) == {}
    # Kept: the lookback (2 days for cards, 1 for terminals) + 1 grace day + at most a day of
    # slack before the next pruning.
    for entity, lookback in ((Entity.CUSTOMER, 2), (Entity.TERMINAL, 1)):
        newest = {}
        for event in log.events:
            newest[getattr(event, entity.value.lower())] = event.tx_datetime
        for entity_id, last in newest.items():
            times = [
                int(value.split(b",")[0])
                for value in client.hvals(store.layout.transactions(entity, entity_id))
            ]
            oldest = datetime(1970, 1, 1) + timedelta(microseconds=min(times))
            assert last - oldest <= timedelta(days=lookback + 1 + 1)
    kept = sum(client.hlen(store.layout.transactions(Entity.CUSTOMER, i)) for i in range(100))
    assert kept < len(log.events) / 4

    late = store.enrich([log.events[100]])
    assert late.status == ("incomplete",)
    recent = store.enrich([log.events[-1]])
    assert recent.status == ("replayed",)


def test_labels_are_applied_once(store: OnlineFeatureStore, client: redis.Redis, log: Log) -> None:
    assert store.apply_labels(log.labels[:500]) == 500
    before = dump(client)

    assert store.apply_labels(log.labels[:500]) == 0
    assert store.apply_labels([]) == 0
    assert dump(client) == before
    assert store.apply_labels(log.labels[:600]) == 100


def test_the_watermark_only_moves_forward(store: OnlineFeatureStore) -> None:
    assert store.watermark() is None
    later, earlier = datetime(2018, 5, 2, 10, 30), datetime(2018, 5, 1, 8, 0, 0, 123)

    assert store.advance_watermark(later) == later
    assert store.advance_watermark(earlier) == later
    assert store.watermark() == later
    # An aware time is converted to (naive) UTC.
    ahead = datetime(2018, 5, 2, 13, 0, tzinfo=UTC) + timedelta(hours=0)
    assert store.advance_watermark(ahead.astimezone()) == datetime(2018, 5, 2, 13, 0)


def test_clear_deletes_this_stores_keys_only(
    store: OnlineFeatureStore, redis_url: str, client: redis.Redis, log: Log
) -> None:
    other = OnlineFeatureStore.from_config(RedisConfig(url=redis_url, prefix="other"))
    client.set("unrelated", "1")
    stream(store, log.events[:200], log.labels)
    other.record_transactions(log.events[:200])
    store.advance_watermark(log.events[200].tx_datetime)
    ours = store.stats().entity_keys
    assert ours > 0

    deleted = store.clear()

    assert deleted == ours + 1  # and the watermark
    assert store.stats().entity_keys == 0
    assert store.watermark() is None
    assert other.stats().entity_keys > 0
    assert client.get("unrelated") == b"1"
    other.close()


def test_a_lost_script_is_loaded_again(
    store: OnlineFeatureStore, client: redis.Redis, log: Log
) -> None:
    first = store.enrich(log.events[:20])
    client.script_flush()

    again = store.enrich(log.events[:20])

    assert set(again.status) == {"replayed"}
    np.testing.assert_array_equal(again.features, first.features)


def test_an_unreachable_redis_is_a_service_error(log: Log) -> None:
    config = RedisConfig(url=f"redis://127.0.0.1:{free_port()}/0", socket_timeout_seconds=0.5)
    store = OnlineFeatureStore.from_config(config)

    with pytest.raises(ServiceError, match="not reachable"):
        store.ping()
    with pytest.raises(ServiceError, match="FRAUDSTREAM_REDIS_URL"):
        store.enrich(log.events[:3])
    with pytest.raises(ServiceError, match="not reachable"):
        store.apply_labels(log.labels[:3])


def test_a_client_decoding_replies_is_refused_with_the_reason() -> None:
    # Feature vectors come back as binary doubles: a client decoding text would fail on them.
    client = redis.Redis(port=free_port(), decode_responses=True)
    with pytest.raises(ConfigError, match="decode_responses=False"):
        OnlineFeatureStore(client, RedisConfig(url="redis://127.0.0.1:6379/0"))
