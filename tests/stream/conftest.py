"""Fixtures of the stream tests: a real broker and a real Redis, started and stopped here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from stream_services import Broker, RedisServer, kafka_broker, redis_server


@pytest.fixture(scope="session")
def service_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the services' logs go (printed on failure by the tests that need them)."""
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def broker(service_logs: Path) -> Iterator[Broker]:
    """A Kafka-protocol broker on a free port, for the whole session."""
    with kafka_broker(service_logs) as running:
        yield running


@pytest.fixture(scope="session")
def redis_service(service_logs: Path) -> Iterator[RedisServer]:
    """A private Redis on a free port, for the whole session."""
    with redis_server(service_logs) as running:
        yield running


@pytest.fixture
def redis_url(redis_service: RedisServer) -> Iterator[str]:
    """The private Redis, emptied before the test."""
    client = redis.Redis.from_url(redis_service.url)
    client.flushall()
    client.close()
    yield redis_service.url
