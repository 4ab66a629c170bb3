"""The worker's Faust consumer: the settings Faust hard-codes are the configured ones."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from faust.types import TP

from fraudstream.stream_scorer.app import ScorerApp

pytestmark = pytest.mark.unit


def _app(tmp_path: Path) -> ScorerApp:
    app = ScorerApp(
        "settings",
        broker="kafka://127.0.0.1:1",
        datadir=str(tmp_path),
        web_enabled=False,
        loop=asyncio.get_running_loop(),
    )
    app.fetch_max_wait_ms = 77
    app.fetch_max_bytes = 4321
    return app


def test_the_client_consumer_gets_the_configured_fetch_wait_and_fetch_size(
    tmp_path: Path,
) -> None:
    async def build() -> tuple[int, int]:
        app = _app(tmp_path)
        thread = app.consumer._thread
        client = thread._create_worker_consumer(app.transport)
        try:
            return client._fetch_max_wait_ms, client._fetch_max_bytes
        finally:
            await client.stop()
            thread.thread_loop.close()

    assert asyncio.run(build()) == (77, 4321)


def test_buffer_pressure_does_not_stop_fetching_one_partition(tmp_path: Path) -> None:
    async def pressure() -> tuple[set[TP], set[TP]]:
        consumer = _app(tmp_path).consumer
        tps = {TP("transactions", p) for p in range(4)}
        consumer._set_active_tps(tps)
        consumer.on_buffer_full(TP("transactions", 2))
        active = set(consumer._get_active_partitions())
        consumer.on_buffer_drop(TP("transactions", 2))
        consumer._thread.thread_loop.close()
        return active, tps

    active, every = asyncio.run(pressure())
    assert active == every
