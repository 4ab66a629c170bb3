"""Configuration of the Redis online feature store."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class RedisConfig(BaseModel):
    """The Redis that holds the online feature state (``FRAUDSTREAM_REDIS_URL``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: Annotated[str, Field(min_length=1)] = "redis://127.0.0.1:6379/0"
    #: Prefix of every key; the feature-definition version follows it, so two definitions never
    #: share state.
    prefix: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")] = "fraudstream"
    #: Event-time days kept beyond the longest lookback, so that a re-delivered older event
    #: (after a crash or a rebalance) still finds the history it needs.
    grace_days: Annotated[int, Field(ge=0, le=365)] = 7
    #: Wall-clock expiry of an idle entity's state: it then holds only expired windows.
    idle_ttl_days: Annotated[int, Field(ge=1)] = 60
    socket_timeout_seconds: Annotated[float, Field(gt=0)] = 5.0


__all__ = ["RedisConfig"]
