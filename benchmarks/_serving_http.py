"""Server processes and the load generator of the serving benchmark.

Helper of ``benchmarks/serving.py``: start a server in its own process group and time it to
ready, read the resident memory of its process tree from ``/proc``, drive it with ``wrk`` and a
Lua POST script, and stop the whole group again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_post.lua"
_WRK_MARKER = "WRK_JSON "


class BenchmarkError(RuntimeError):
    """A server or the load generator did not behave; the message says which and why."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server and how to tell that it is ready."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    port: int
    ready_path: str
    cwd: Path

    @property
    def url(self) -> str:
        """Base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Server:
    """A started server process (leader of its own process group)."""

    spec: ServerSpec
    process: subprocess.Popen[bytes]
    log: TextIO
    ready_seconds: float = float("nan")
    stopped: bool = field(default=False)


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def start_server(spec: ServerSpec, log_path: Path, timeout: float) -> Server:
    """Start ``spec`` and wait until its ready path answers 200; time process start → ready.

    Raises:
        BenchmarkError: the process exited, or was not ready within ``timeout`` seconds.
    """
    log = log_path.open("a", encoding="utf-8")
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - fixed argv built by the benchmark
        spec.argv,
        env=dict(spec.env),
        cwd=spec.cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = Server(spec=spec, process=process, log=log)
    with httpx.Client(timeout=1.0) as client:
        while time.perf_counter() - started < timeout:
            if process.poll() is not None:
                stop_server(server)
                msg = f"{spec.name} exited with code {process.returncode} before it was ready; its log ({log_path}):\n{_log_tail(log_path)}"
                raise BenchmarkError(msg)
            try:
                if client.get(spec.url + spec.ready_path).status_code == 200:
                    server.ready_seconds = time.perf_counter() - started
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.01)
    stop_server(server)
    msg = f"{spec.name} was not ready after {timeout:.0f} s; its log ({log_path}):\n{_log_tail(log_path)}"
    raise BenchmarkError(msg)


def stop_server(server: Server, grace: float = 30.0) -> None:
    """SIGTERM the server's process group, SIGKILL it after ``grace`` seconds; idempotent."""
    if server.stopped:
        return
    server.stopped = True
    pgid = server.process.pid  # leader of its own session, so its pid is the group id
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        try:
            server.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if not _group_alive(pgid):
            break
    server.log.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _status_kb(pid: int, key: str) -> int:
    try:
        lines = Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _parents() -> dict[int, list[int]]:
    """Children of every process, from the ppid field of ``/proc/<pid>/stat``."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        # The command name (field 2) may hold spaces; the fields after its ")" do not.
        ppid = int(text.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(stat.parent.name))
    return children


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    children = _parents()
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending += children.get(current, [])
    return tree


def tree_memory_mb(pid: int) -> dict[str, Any]:
    """Resident memory (VmRSS) and its peak (VmHWM) of ``pid``'s tree, in MB, with per-process RSS."""
    pids = process_tree(pid)
    rss = {p: _status_kb(p, "VmRSS") / 1024 for p in pids}
    return {
        "rss_mb": round(sum(rss.values()), 1),
        "peak_rss_mb": round(sum(_status_kb(p, "VmHWM") for p in pids) / 1024, 1),
        "processes": len(pids),
        "per_process_rss_mb": [round(v, 1) for v in rss.values()],
    }


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid``'s process tree, in seconds."""
    ticks = 0
    for member in process_tree(pid):
        try:
            text = Path(f"/proc/{member}/stat").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def post_json(url: str, body: bytes, timeout: float = 60.0) -> Any:
    """POST a JSON body; the decoded answer.

    Raises:
        BenchmarkError: the answer is not 200.
    """
    response = httpx.post(
        url, content=body, headers={"Content-Type": "application/json"}, timeout=timeout
    )
    if response.status_code != 200:
        msg = f"POST {url} answered {response.status_code}: {response.text[:500]}"
        raise BenchmarkError(msg)
    return response.json()


@dataclass(frozen=True)
class LoadSpec:
    """One wrk run: how hard and for how long."""

    threads: int
    connections: int
    duration_s: int
    timeout_s: int = 10


def wrk_executable() -> str:
    """The ``wrk`` binary.

    Raises:
        BenchmarkError: wrk is not installed.
    """
    found = shutil.which("wrk")
    if found is None:
        msg = "wrk is not installed: `apt-get install -y wrk` (Debian) and run again"
        raise BenchmarkError(msg)
    return found


def run_wrk(
    url: str, path: str, bodies: Path, load: LoadSpec, server_pid: int | None = None
) -> dict[str, Any]:
    """Drive ``url + path`` with ``wrk`` POSTing the bodies of ``bodies``; the parsed figures.

    With ``server_pid``, also the server's CPU time per request (its whole process tree): a
    figure that other load on the machine disturbs much less than latency or throughput.

    Raises:
        BenchmarkError: wrk failed, or any request failed (socket error or non-2xx status).
    """
    argv: Sequence[str] = (
        wrk_executable(),
        f"-t{min(load.threads, load.connections)}",
        f"-c{load.connections}",
        f"-d{load.duration_s}s",
        f"--timeout={load.timeout_s}s",
        "--latency",
        "-s",
        str(WRK_SCRIPT),
        url,
        "--",
        path,
        str(bodies),
    )
    cpu_before = tree_cpu_seconds(server_pid) if server_pid else 0.0
    done = subprocess.run(  # noqa: S603 - fixed argv built here
        argv, capture_output=True, text=True, check=False, timeout=load.duration_s + 60
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith(_WRK_MARKER)]
    if done.returncode != 0 or not lines:
        msg = f"wrk failed (exit {done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        raise BenchmarkError(msg)
    figures: dict[str, Any] = json.loads(lines[-1].removeprefix(_WRK_MARKER))
    failures = sum(v for k, v in figures.items() if k.startswith("errors_"))
    if failures or figures["requests"] == 0:
        msg = (
            f"wrk against {url}{path}: {figures['requests']} requests, {failures} failed: {figures}"
        )
        raise BenchmarkError(msg)
    if server_pid:
        cpu = tree_cpu_seconds(server_pid) - cpu_before
        figures["server_cpu_ms_per_request"] = round(1000 * cpu / figures["requests"], 3)
    seconds = figures["duration_us"] / 1e6
    figures["requests_per_s"] = round(figures["requests"] / seconds, 1)
    figures["p50_ms"] = figures["latency_p50_us"] / 1000
    figures["p99_ms"] = figures["latency_p99_us"] / 1000
    figures["command"] = " ".join(argv[:8]) + f" {url}{path}"
    return figures
