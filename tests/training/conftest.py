"""Fixtures of the ingestion tests: a loopback HTTP server, PostgreSQL and SQLite databases.

Nothing here leaves the machine: the HTTP server binds 127.0.0.1 on a random port, and the
database is the local PostgreSQL named by FRAUDSTREAM_TEST_POSTGRES_URL. The transactions come
from the simulator (the session-wide ``transactions`` fixture of ``tests/conftest.py``).
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
from registry_fixtures import RegistryStore, private_copy, shared_store

from fraudstream.training.registry_config import RegistrySettings

#: How long a stalled reply waits at most before the server gives up on it (the client's
#: timeout is far shorter; the server is released at teardown anyway).
_STALL_LIMIT_SECONDS = 30


@dataclass(frozen=True)
class Reply:
    """One canned HTTP answer of the loopback server."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_length: bool = True
    #: Announce the full length, send only this many bytes, then hang up (a dropped download).
    cut_after: int | None = None
    #: Send nothing until the server is released (a server that never answers in time).
    stall: bool = False


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer

    def do_GET(self) -> None:
        reply = self.server.next_reply(self.path)
        if reply.stall:
            self.server.released.wait(_STALL_LIMIT_SECONDS)
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.content_length:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body[: reply.cut_after])

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
        self.released = threading.Event()
        self._lock = threading.Lock()

    def serve(
        self,
        path: str,
        body: bytes = b"",
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_length: bool = True,
        cut_after: int | None = None,
        stall: bool = False,
    ) -> str:
        """Queue one reply for ``path`` and return the path's absolute URL."""
        reply = Reply(status, body, headers or {}, content_length, cut_after, stall)
        with self._lock:
            self.routes.setdefault(path, []).append(reply)
        return self.url(path)

    def url(self, path: str, userinfo: str = "") -> str:
        """The absolute URL of ``path`` on this server (``userinfo`` is ``user:password@``)."""
        host, port = self.server_address[:2]
        return f"http://{userinfo}{host}:{port}{path}"

    def next_reply(self, path: str) -> Reply:
        """Count a request to ``path`` and return its reply (the query string is ignored)."""
        path = path.split("?", 1)[0]
        with self._lock:
            self.hits[path] += 1
            replies = self.routes.get(path, [Reply(404, b"not found")])
            return replies[min(self.hits[path], len(replies)) - 1]

    def handle_error(self, request: object, client_address: object) -> None:
        """Ignore clients that hang up early (timeouts, ``url_reachable`` never reads the body)."""


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    """A :class:`LoopbackServer` serving in a background thread, shut down after the test."""
    server = LoopbackServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.released.set()
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
def postgres_table(postgres_url: str, transactions: pd.DataFrame) -> Iterator[str]:
    """A fresh table in ``public`` holding the simulated ``transactions``, dropped at the end."""
    name = f"fraudstream_test_{uuid.uuid4().hex}"
    engine = sa.create_engine(postgres_url)
    try:
        transactions.to_sql(name, engine, schema="public", index=False)
        yield name
    finally:
        sa.Table(name, sa.MetaData(), schema="public").drop(engine, checkfirst=True)
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory, transactions: pd.DataFrame) -> str:
    """A SQLite file database with the table ``transactions`` (read only by the tests).

    SQLite has no timestamp type: the datetime columns come back as text, as they would from a
    real SQLite export, and validation types them later.
    """
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'db.sqlite'}"
    engine = sa.create_engine(url)
    try:
        transactions.to_sql("transactions", engine, index=False)
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="session")
def registry_store(request: pytest.FixtureRequest) -> RegistryStore:
    """The session's MLflow store with the three logged candidates."""
    return shared_store(request)


@pytest.fixture
def settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry_store: RegistryStore
) -> RegistrySettings:
    """Registry settings (default gate margins) on a private copy of the store."""
    return private_copy(registry_store, tmp_path, monkeypatch)
