"""The prediction log against the machine's real PostgreSQL, through an outage mid-run.

The log writes as a dedicated role into its own schema. Mid-run the role loses the right to log
in and its connections are terminated (what a failover or a credentials mishap looks like);
later it gets the right back. Records keep being submitted all along: every one must arrive,
exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from churnguard.api.metrics import create_metrics
from churnguard.api.schemas import EXAMPLE_CUSTOMER, CustomerRecord
from churnguard.monitoring.config import MonitoringConfig
from churnguard.monitoring.predlog import PredictionLog, ScoredRequest

pytestmark = pytest.mark.integration
RECORD = CustomerRecord.model_validate(EXAMPLE_CUSTOMER)


@dataclass(frozen=True)
class OutageDatabase:
    """A role and its schema, and a superuser connection that can lock the role out."""

    admin: sa.Engine
    role: str
    url: str

    def _run(self, sql: str) -> list[Any]:
        with self.admin.connect() as connection:
            result = connection.execute(sa.text(sql), {"role": self.role})
            return list(result.all()) if result.returns_rows else []

    def lock_out(self) -> None:
        """The role may not log in any more, and its open connections are killed."""
        self._run(f"ALTER ROLE {self.role} NOLOGIN")
        self._run("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :role")

    def let_in(self) -> None:
        self._run(f"ALTER ROLE {self.role} LOGIN")

    def stored_keys(self) -> list[tuple[str, int]]:
        rows = self._run(
            f"SELECT request_id, row_index FROM {self.role}.churnguard_predictions"  # noqa: S608
        )
        return [(r[0], r[1]) for r in rows]

    def sessions(self) -> int:
        return int(self._run("SELECT count(*) FROM pg_stat_activity WHERE usename = :role")[0][0])


@pytest.fixture
def database(postgres_url: str) -> Iterator[OutageDatabase]:
    role = f"cg_predlog_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    url = (
        sa.make_url(postgres_url)
        .set(username=role, password=None)
        .update_query_dict({"options": f"-csearch_path={role}"})
    )
    database = OutageDatabase(admin, role, url.render_as_string(hide_password=False))
    database._run(f"CREATE ROLE {role} LOGIN")
    database._run(f"CREATE SCHEMA {role} AUTHORIZATION {role}")
    try:
        yield database
    finally:
        database.let_in()
        database._run(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :role"
        )
        wait_for(lambda: database.sessions() == 0)  # its temporary tables go with its sessions
        database._run(f"DROP SCHEMA {role} CASCADE")
        database._run(f"DROP ROLE {role}")
        admin.dispose()


def wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def value(metric: Any) -> float:
    return float(metric._value.get())


class Producer(threading.Thread):
    """Submits requests of 1 to 3 records every few milliseconds until told to stop."""

    def __init__(self, log: PredictionLog) -> None:
        super().__init__(daemon=True)
        self.log = log
        self.sent: list[tuple[str, int]] = []
        self.errors: list[BaseException] = []
        self.done = threading.Event()

    def run(self) -> None:
        number = 0
        while not self.done.is_set():
            rows = 1 + number % 3
            request = ScoredRequest(
                f"req-{number}", "/predict/batch", "3", None, 0.4, time.time(), 1.0,
                [RECORD] * rows, [0.25] * rows,
            )  # fmt: skip
            try:
                self.log.submit(request)
            except BaseException as exc:  # any raise at all fails the test
                self.errors.append(exc)
            self.sent.extend((request.request_id, i) for i in range(rows))
            number += 1
            time.sleep(0.004)


def test_every_record_arrives_exactly_once_after_postgres_refuses_the_log_mid_run(
    database: OutageDatabase, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="churnguard.monitoring.predlog")
    metrics = create_metrics()
    config = MonitoringConfig(
        spool_dir=tmp_path / "spool", log_batch_size=50, log_flush_seconds=0.05, retry_seconds=0.2
    )
    log = PredictionLog(database.url, config, metrics)
    log.store.create()
    log.start()
    producer = Producer(log)
    producer.start()
    try:
        wait_for(lambda: value(metrics.log_written) >= 100)
        database.lock_out()
        sent_at_outage = len(producer.sent)
        wait_for(lambda: value(metrics.log_spooled) >= 150)  # still accepted: on disk now
        assert len(list((tmp_path / "spool").glob("*.jsonl"))) > 0
        written_in_outage = value(metrics.log_written)
        database.let_in()
        wait_for(lambda: value(metrics.log_spooled) == 0)
        wait_for(lambda: value(metrics.log_written) >= written_in_outage + 100)  # flowing again
    finally:
        producer.done.set()
        producer.join()
        log.stop()
    assert not producer.errors
    assert len(producer.sent) > sent_at_outage + 150
    stored = database.stored_keys()
    assert len(stored) == len(producer.sent)  # no duplicate
    assert set(stored) == set(producer.sent)  # none missing
    assert value(metrics.log_dropped) == 0
    assert value(metrics.log_written) == len(producer.sent)
    assert not list((tmp_path / "spool").glob("*.jsonl"))
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert messages.count("prediction store unavailable: spooling records until it is back") == 1
    assert messages.count("prediction store back: spool replayed") == 1
