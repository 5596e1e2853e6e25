"""Real simreg processes on loopback, as production runs them: API instances and a scheduler,
each a `simreg` command of its own on one PostgreSQL."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from app.benchmarks.common import process_env, wait_until_answering

T = TypeVar("T")


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def simreg_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment of one process of the topology (test environment, quiet logs)."""
    return process_env(env="test", database_url=database_url, log_level="WARNING", **settings)


@dataclass
class Process:
    """One started `simreg …` command and the file its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    @property
    def base_url(self) -> str:
        """Where an API process answers."""
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        """What the process printed (for a failing test's message)."""
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not ended within 10 s."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


@dataclass
class Cluster:
    """The processes of one topology; `stop()` ends every one of them."""

    database_url: str
    workdir: Path
    settings: dict[str, str] = field(default_factory=dict)
    processes: list[Process] = field(default_factory=list)

    def migrate(self) -> None:
        """`simreg migrate`, once, before any instance starts."""
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "migrate"],
            env=simreg_env(self.database_url, **self.settings),
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")

    def _start(self, name: str, args: list[str], port: int | None) -> Process:
        log = self.workdir / f"{name}.log"
        handle = log.open("wb")
        popen = subprocess.Popen(
            [sys.executable, "-m", "app.cli", *args],
            env=simreg_env(self.database_url, **self.settings),
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        handle.close()
        process = Process(name, popen, log, port)
        self.processes.append(process)
        return process

    def start_api(self, name: str) -> Process:
        """`simreg serve` on a port of its own; returns when /readyz answers 200."""
        port = free_port()
        process = self._start(name, ["serve", "--host", "127.0.0.1", "--port", str(port)], port)
        wait_ready(process)
        return process

    def start_scheduler(self, *, metrics_port: int) -> Process:
        """`simreg scheduler`; returns when its /metrics port answers."""
        self.settings["scheduler_metrics_port"] = str(metrics_port)
        self.settings["host"] = "127.0.0.1"
        process = self._start("scheduler", ["scheduler"], metrics_port)
        wait_ready(process, path="/metrics")
        return process

    def stop(self) -> None:
        """End every process this cluster started."""
        for process in reversed(self.processes):
            process.stop()


def eventually(probe: Callable[[], T | None], what: str, *, timeout: float = 60) -> T:
    """Poll `probe` until it returns something; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout} s: {what}")


def wait_ready(process: Process, *, path: str = "/readyz", timeout: float = 60) -> None:
    """Wait until `path` answers 200; fail with the process's output if it never does."""
    failed = wait_until_answering(process.base_url + path, process.popen, timeout=timeout)
    if failed:
        raise AssertionError(f"{process.name}: {failed}\n{process.output()}")


@contextmanager
def cluster(database_url: str, workdir: Path, **settings: str) -> Iterator[Cluster]:
    """A migrated database and whatever processes the caller starts; all stopped on exit."""
    topology = Cluster(database_url, workdir, dict(settings))
    try:
        topology.migrate()
        yield topology
    finally:
        topology.stop()


__all__ = ["Cluster", "Process", "cluster", "free_port", "wait_ready"]
