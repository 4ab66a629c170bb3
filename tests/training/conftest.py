"""Fixtures of the ingestion tests: a loopback HTTP server, PostgreSQL and SQLite databases.

Nothing here leaves the machine: the HTTP server binds 127.0.0.1 on a random port, and the
database is the local PostgreSQL named by FRAUDSTREAM_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from fraudstream.data.synthetic import generate_customers


@dataclass(frozen=True)
class Reply:
    """One canned HTTP answer of the loopback server."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_length: bool = True


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer

    def do_GET(self) -> None:
        reply = self.server.next_reply(self.path)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.content_length:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


class LoopbackServer(ThreadingHTTPServer):
    """A real HTTP server on 127.0.0.1 giving canned replies and counting every request.

    :meth:`serve` queues replies for a path, given in turn; the last one repeats. Unknown paths
    get a 404. :attr:`hits` counts the requests per path.
    """

    # Join the handler threads on close, so no thread outlives the test.
    daemon_threads = False
    block_on_close = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, list[Reply]] = {}
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()

    def serve(
        self,
        path: str,
        body: bytes = b"",
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_length: bool = True,
    ) -> str:
        """Queue one reply for ``path`` and return the path's absolute URL."""
        reply = Reply(status, body, headers or {}, content_length)
        with self._lock:
            self.routes.setdefault(path, []).append(reply)
        return self.url(path)

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on this server."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{path}"

    def next_reply(self, path: str) -> Reply:
        """Count a request to ``path`` and return its reply."""
        with self._lock:
            self.hits[path] += 1
            replies = self.routes.get(path, [Reply(404, b"not found")])
            return replies[min(self.hits[path], len(replies)) - 1]

    def handle_error(self, request: object, client_address: object) -> None:
        """Ignore clients that hang up early (``url_reachable`` never reads the body)."""


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A :class:`LoopbackServer` serving in a background thread, shut down after the test."""
    server = LoopbackServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def closed_port() -> int:
    """A loopback TCP port nobody listens on (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def sql_customers() -> pd.DataFrame:
    """400 synthetic customers, at least one of them new with a blank (" ") TotalCharges."""
    frame = generate_customers(400, seed=42)
    if not frame["TotalCharges"].eq(" ").any():
        pytest.fail("the synthetic sample has no blank TotalCharges; pick another seed")
    return frame


@pytest.fixture(scope="session")
def postgres_table(postgres_url: str, sql_customers: pd.DataFrame) -> Iterator[str]:
    """The name of a fresh table in ``public`` holding :func:`sql_customers`, dropped at the end."""
    name = f"fraudstream_test_{uuid.uuid4().hex}"
    engine = sa.create_engine(postgres_url)
    try:
        sql_customers.to_sql(name, engine, schema="public", index=False)
        yield name
    finally:
        sa.Table(name, sa.MetaData(), schema="public").drop(engine, checkfirst=True)
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path, sql_customers: pd.DataFrame) -> str:
    """A SQLite file database with the table ``customers`` holding :func:`sql_customers`."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = sa.create_engine(url)
    try:
        sql_customers.to_sql("customers", engine, index=False)
    finally:
        engine.dispose()
    return url
