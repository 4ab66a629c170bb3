"""The store's Lua script, with the feature declaration compiled into it.

``store.lua`` (beside this module) implements each :class:`Aggregation` once, generically; what
it computes comes from the declaration, compiled here into one compact row per feature
(aggregation, entity, window and delay in microseconds) and written into the script text when
the store loads it. A changed declaration gives another script (and another key prefix: the
definition version is part of every key).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final

from fraudstream.feature_store.definition import lookback_days
from fraudstream.feature_store.vocabulary import Entity, Feature

DAY_US: Final = 86_400 * 10**6
_DAY_MS: Final = 86_400 * 10**3
_SCRIPT_FILE: Final = "store.lua"
_IMPLEMENTED = re.compile(r"^AGGREGATIONS\.(\w+) = function", re.MULTILINE)
_PLACEHOLDERS: Final = ("__FEATURES__", "__LOOKBACK_US__", "__KEEP_US__", "__TTL_MS__")


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One feature as the script reads it.

    Attributes:
        aggregation: The :class:`Aggregation` value (the script's implementation of the same name).
        entity: 1-based index of the entity in the store's entity order; 0 for per-event features.
        window_us: Window length in microseconds.
        delay_us: Delay in microseconds.
        window: 1-based index of the feature's (entity, window, delay): features sharing it share
            the script's window scans.
    """

    aggregation: str
    entity: int
    window_us: int
    delay_us: int
    window: int

    def lua(self) -> str:
        """The row as a Lua table constructor."""
        return (
            f"{{agg = '{self.aggregation}', e = {self.entity}, w = {self.window_us}, "
            f"d = {self.delay_us}, win = {self.window}}}"
        )


@cache
def script_template() -> str:
    """The Lua source with its placeholders (read once from the package)."""
    return resources.files(__package__).joinpath(_SCRIPT_FILE).read_text(encoding="utf-8")


def script_aggregations() -> frozenset[str]:
    """The aggregations the Lua script implements."""
    return frozenset(_IMPLEMENTED.findall(script_template()))


def store_entities(definition: tuple[Feature, ...]) -> tuple[Entity, ...]:
    """The entities whose history the definition reads, in :class:`Entity` order."""
    used = lookback_days(definition)
    return tuple(entity for entity in Entity if entity in used)


def compile_spec(definition: tuple[Feature, ...]) -> tuple[FeatureSpec, ...]:
    """Compile ``definition`` into the script's rows, in declaration order.

    Raises:
        ValueError: A feature's aggregation has no implementation in the script.
    """
    implemented = script_aggregations()
    entities = store_entities(definition)
    windows: dict[tuple[Entity | None, int, int], int] = {}
    rows = []
    for feature in definition:
        if feature.aggregation.value not in implemented:
            msg = f"feature {feature.name!r}: the store script has no {feature.aggregation!s}"
            raise ValueError(msg)
        key = (feature.entity, feature.window_days, feature.delay_days)
        window = windows.setdefault(key, len(windows) + 1)
        entity = 0 if feature.entity is None else entities.index(feature.entity) + 1
        rows.append(
            FeatureSpec(
                aggregation=feature.aggregation.value,
                entity=entity,
                window_us=feature.window_days * DAY_US,
                delay_us=feature.delay_days * DAY_US,
                window=window,
            )
        )
    return tuple(rows)


def _lua_list(values: list[str]) -> str:
    return "{" + ", ".join(values) + "}"


def render_script(definition: tuple[Feature, ...], *, grace_days: int, idle_ttl_days: int) -> str:
    """The Lua source for ``definition``, its state kept ``grace_days`` beyond the lookback."""
    lookback = lookback_days(definition)
    entities = store_entities(definition)
    features = "{\n  " + ",\n  ".join(row.lua() for row in compile_spec(definition)) + "\n}"
    values = {
        "__FEATURES__": features,
        "__LOOKBACK_US__": _lua_list([str(lookback[e] * DAY_US) for e in entities]),
        "__KEEP_US__": _lua_list([str((lookback[e] + grace_days) * DAY_US) for e in entities]),
        "__TTL_MS__": str(idle_ttl_days * _DAY_MS),
    }
    source = script_template()
    for placeholder in _PLACEHOLDERS:
        if source.count(placeholder) != 1:  # pragma: no cover - the packaged file is fixed
            msg = f"{_SCRIPT_FILE} must hold {placeholder} exactly once"
            raise ValueError(msg)
        source = source.replace(placeholder, values[placeholder])
    return source


def script_sha(source: str) -> str:
    """The SHA1 Redis names a script by (``EVALSHA``)."""
    return hashlib.sha1(source.encode("utf-8"), usedforsecurity=False).hexdigest()


__all__ = [
    "DAY_US",
    "FeatureSpec",
    "compile_spec",
    "render_script",
    "script_aggregations",
    "script_sha",
    "script_template",
    "store_entities",
]
