"""The Redis online feature store: per event, the features of the declaration, point in time.

The work is one Lua script (``store.lua``, see :mod:`~fraudstream.feature_store.online.script`)
that, atomically per event, checks the transaction id, records the event, computes every feature
as of the event and prunes history the declaration no longer reads. A batch of events is one
round trip: a pipeline of ``EVALSHA`` calls, each seeing the writes of the previous ones. The key
layout is in :mod:`~fraudstream.feature_store.online.layout`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final, Self, TypeVar

import redis
from pydantic import BaseModel, ConfigDict

from fraudstream.errors import ConfigError, ServiceError
from fraudstream.feature_store.definition import (
    FEATURE_DEFINITION,
    definition_version,
    feature_names,
)
from fraudstream.feature_store.online.config import RedisConfig
from fraudstream.feature_store.online.enriched import Enriched, decode_replies
from fraudstream.feature_store.online.layout import (
    KeyLayout,
    from_microseconds,
    label_entry,
    to_microseconds,
    transaction_entry,
)
from fraudstream.feature_store.online.script import render_script, script_sha, store_entities
from fraudstream.feature_store.vocabulary import Entity, Feature
from fraudstream.transactions.event import LabelEvent, TransactionEvent

#: Calls per pipeline of the script, and events or labels per pipeline of the bulk writes
#: (bounded memory on either side).
_CHUNK: Final = 5_000
#: Events per script call: most of a call's cost is per call and per argument, so one argument
#: per event and several events per call; few enough that one call holds Redis (single-threaded)
#: for milliseconds, not the time of a whole batch, so API reads are not held up.
_EVENTS_PER_CALL: Final = 50
#: Labels per script call (a label costs Redis about a microsecond).
_LABELS_PER_CALL: Final = 1_000
_BULK_CHUNK: Final = 50_000
_DAY_MS: Final = 86_400_000
_Item = TypeVar("_Item", TransactionEvent, LabelEvent)


class StoreStats(BaseModel):
    """How much state the store holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    definition_version: str
    #: Keys holding an entity's transactions or labels (two per card or terminal at most).
    entity_keys: int
    #: Redis ``used_memory`` (the whole server, not this store alone).
    used_memory_bytes: int


class OnlineFeatureStore:
    """Feature state in Redis, computed per event from the same declaration as offline.

    Args:
        client: A Redis client answering bytes (``decode_responses=False``, the default):
            feature vectors come back as binary doubles.
        config: Key prefix, grace and idle expiry (``url`` and timeouts are the client's).
        definition: The features to compute, in output order.
    """

    def __init__(
        self,
        client: redis.Redis,
        config: RedisConfig,
        definition: tuple[Feature, ...] = FEATURE_DEFINITION,
    ) -> None:
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            msg = (
                "the online feature store needs a Redis client with decode_responses=False: "
                "feature vectors come back as binary doubles"
            )
            raise ConfigError(msg)
        self._client = client
        self.config = config
        self.feature_names = feature_names(definition)
        self.layout = KeyLayout(config.prefix, definition_version(definition))
        self.entities = store_entities(definition)
        # Per entity: the start of its keys and the event attribute holding its id.
        self._entity_keys = tuple(
            (self.layout.entity_base(e), e.value.lower()) for e in self.entities
        )
        self._entity_bases = tuple(base for base, _ in self._entity_keys)
        self._entity_attributes = tuple(attribute for _, attribute in self._entity_keys)
        self._ttl_ms = config.idle_ttl_days * _DAY_MS
        self._script = render_script(
            definition, grace_days=config.grace_days, idle_ttl_days=config.idle_ttl_days
        )
        self._sha = script_sha(self._script)

    @classmethod
    def from_config(
        cls, config: RedisConfig, definition: tuple[Feature, ...] = FEATURE_DEFINITION
    ) -> Self:
        """A store on a new client for ``config.url``.

        Raises:
            ConfigError: ``config.url`` is not a Redis URL.
        """
        try:
            client = redis.Redis.from_url(
                config.url,
                socket_timeout=config.socket_timeout_seconds,
                socket_connect_timeout=config.socket_timeout_seconds,
            )
        except ValueError as exc:
            msg = (
                f"redis.url {config.url!r} is not a Redis URL ({exc}); use "
                "redis://host:port/db (FRAUDSTREAM_REDIS_URL or the redis section of the config)"
            )
            raise ConfigError(msg) from exc
        return cls(client, config, definition)

    # -- events ---------------------------------------------------------------------------------

    def enrich(self, events: Sequence[TransactionEvent], *, record: bool = True) -> Enriched:
        """Compute every feature of each event as of the event, in one round trip.

        Events of one batch are processed in order, each seeing the ones before it. A re-delivered
        event (same id, same content) gets the same vector as the first time and changes nothing.

        Args:
            events: The transactions, in the order they are processed.
            record: Record the events (the stream). ``False`` is a read-only peek (the API): the
                features as if each event were recorded, nothing changed.

        Raises:
            ServiceError: Redis is not reachable or refused the script.
        """
        head = [0, "r" if record else "p", *self._entity_bases]
        attributes = self._entity_attributes
        arguments = [
            ",".join(
                (
                    str(event.transaction_id),
                    transaction_entry(event),
                    *(str(getattr(event, a)) for a in attributes),
                )
            )
            for event in events
        ]
        calls = [
            [*head, *arguments[start : start + _EVENTS_PER_CALL]]
            for start in range(0, len(arguments), _EVENTS_PER_CALL)
        ]
        replies = [reply for call in self._evaluate(calls) for reply in call]
        ids = [event.transaction_id for event in events]
        return decode_replies(ids, replies, self.feature_names)

    def record_transactions(self, events: Sequence[TransactionEvent]) -> int:
        """Write transactions without computing anything (a bulk load); return how many were new.

        Idempotent. Nothing is pruned here: :meth:`prune` (or the next event of each entity)
        does it.
        """
        return self._bulk_write(events, "tx", transaction_entry)

    def apply_labels(self, labels: Sequence[LabelEvent]) -> int:
        """Record labels for the card and the terminal of each; return how many were new.

        Idempotent: a label applied again changes nothing (a corrected label replaces the old).
        One argument per label, several hundred labels per script call.
        """
        head = [0, "l", *self._entity_bases]
        attributes = self._entity_attributes
        arguments = [
            ",".join(
                (
                    str(label.transaction_id),
                    *(str(getattr(label, a)) for a in attributes),
                    label_entry(label),
                )
            )
            for label in labels
        ]
        calls = [
            [*head, *arguments[start : start + _LABELS_PER_CALL]]
            for start in range(0, len(arguments), _LABELS_PER_CALL)
        ]
        return sum(int(new) for new in self._evaluate(calls))

    def _bulk_write(
        self, items: Sequence[_Item], suffix: str, entry_of: Callable[[_Item], str]
    ) -> int:
        """One ``HSET`` (and ``PEXPIRE``) per entity key and chunk; count new first-entity fields."""
        new = 0
        for start in range(0, len(items), _BULK_CHUNK):
            chunk = items[start : start + _BULK_CHUNK]
            entries = [(str(item.transaction_id), entry_of(item)) for item in chunk]
            groups = []
            for base, attribute in self._entity_keys:
                by_key: dict[str, dict[str, str]] = defaultdict(dict)
                for item, (field, entry) in zip(chunk, entries, strict=True):
                    by_key[f"{base}{getattr(item, attribute)}:{suffix}"][field] = entry
                groups.append(by_key)
            with self._reaching():
                pipe = self._client.pipeline(transaction=False)
                for by_key in groups:
                    for key, mapping in by_key.items():
                        pipe.hset(key, items=[part for pair in mapping.items() for part in pair])
                        pipe.pexpire(key, self._ttl_ms)
                replies = pipe.execute()
            new += sum(int(added) for added in replies[: 2 * len(groups[0]) : 2])
        return new

    def prune(self, entity_ids: Mapping[Entity, Iterable[int]]) -> int:
        """Delete history the declaration no longer reads, for these entities; return how much.

        Each entity keeps its entries back to its newest time minus its lookback and the grace
        days, and remembers where it was pruned (a later event reading before it is marked
        ``incomplete``).
        """
        layout = self.layout
        calls = [
            [3, layout.transactions(e, i), layout.labels(e, i), layout.pruning_point(e, i), "x", n]
            for n, e in enumerate(self.entities, start=1)
            for i in entity_ids.get(e, ())
        ]
        removed = 0
        for start in range(0, len(calls), _CHUNK):
            removed += sum(int(r) for r in self._evaluate(calls[start : start + _CHUNK]))
        return removed

    # -- labels watermark ----------------------------------------------------------------------

    def advance_watermark(self, through: datetime) -> datetime:
        """Raise the labels watermark to ``through`` (never lower it); return the watermark."""
        (reply,) = self._evaluate([[1, self.layout.watermark, "w", to_microseconds(through)]])
        return from_microseconds(int(reply))

    def watermark(self) -> datetime | None:
        """Every label known at or before this (naive UTC) time has been applied; ``None``: none."""
        with self._reaching():
            value = self._client.get(self.layout.watermark)
        return None if value is None else from_microseconds(int(value))

    # -- partition progress (event-time alignment) --------------------------------------------

    def advance_progress(self, topic: str, latest: Mapping[int, int]) -> None:
        """Raise each partition's latest scored event time (microseconds); never lower it."""
        if not latest:
            return
        arguments = [part for pair in latest.items() for part in pair]
        with self._reaching():
            self._client.eval(_RAISE_FIELDS, 1, self.layout.progress(topic), *arguments)

    def progress(self, topic: str) -> dict[int, int]:
        """Per partition of ``topic`` seen so far: the latest event time scored (microseconds)."""
        with self._reaching():
            values = self._client.hgetall(self.layout.progress(topic))
        return {int(field): int(value) for field, value in values.items()}

    # -- the script ----------------------------------------------------------------------------

    def _evaluate(self, calls: list[list[Any]]) -> list[Any]:
        """One pipeline of ``EVALSHA`` calls; the script is (re)loaded when Redis lacks it."""
        if not calls:
            return []
        for _ in range(2):
            with self._reaching():
                pipe = self._client.pipeline(transaction=False)
                for call in calls:
                    pipe.evalsha(self._sha, *call)
                replies: list[Any] = pipe.execute(raise_on_error=False)
                if not any(isinstance(r, redis.exceptions.NoScriptError) for r in replies):
                    break
                # Every call failed (Redis lost its scripts): nothing ran, run them all again.
                self._client.script_load(self._script)
        for reply in replies:
            if isinstance(reply, redis.RedisError):
                msg = f"Redis at {self.address} refused the feature store's script: {reply}"
                raise ServiceError(msg) from reply
        return replies

    # -- administration ------------------------------------------------------------------------

    def ping(self) -> bool:
        """Whether Redis answers.

        Raises:
            ServiceError: It does not.
        """
        with self._reaching():
            return bool(self._client.ping())

    def clear(self) -> int:
        """Delete every key of this store (this prefix and definition); return how many."""
        deleted = 0
        with self._reaching():
            batch: list[Any] = []
            for key in self._client.scan_iter(match=self.layout.pattern, count=1_000):
                batch.append(key)
                if len(batch) == 1_000:
                    deleted += int(self._client.unlink(*batch))
                    batch = []
            if batch:
                deleted += int(self._client.unlink(*batch))
        return deleted

    def stats(self) -> StoreStats:
        """How many entity keys the store holds, and Redis's memory."""
        with self._reaching():
            keys = sum(
                self.layout.is_entity_key(key.decode() if isinstance(key, bytes) else key)
                for key in self._client.scan_iter(match=self.layout.pattern, count=1_000)
            )
            memory = self._client.info("memory")
        return StoreStats(
            definition_version=self.layout.version,
            entity_keys=keys,
            used_memory_bytes=int(memory["used_memory"]),
        )

    def close(self) -> None:
        """Close the client's connections."""
        self._client.close()

    @property
    def address(self) -> str:
        """Where the Redis is (``host:port/db``; no credentials), for messages."""
        kwargs = self._client.connection_pool.connection_kwargs
        if "path" in kwargs:
            return f"unix:{kwargs['path']}"
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        """Turn "Redis is not there" into a :class:`ServiceError` a person can act on."""
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            msg = (
                f"Redis at {self.address} is not reachable ({exc}). Start Redis there, or "
                "point FRAUDSTREAM_REDIS_URL (redis.url in the config) at a running one."
            )
            raise ServiceError(msg) from exc


#: Raise hash fields to the given numbers (KEYS[1]; ARGV: field, number, ...), never lower them.
_RAISE_FIELDS = """
for i = 1, #ARGV, 2 do
  local current = tonumber(redis.call('HGET', KEYS[1], ARGV[i]))
  if current == nil or current < tonumber(ARGV[i + 1]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
return 1
"""


__all__ = ["OnlineFeatureStore", "StoreStats"]
