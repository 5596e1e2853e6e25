"""A throwaway PostgreSQL server for tests and benchmarks (Debian's binaries, fsync off)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def _bin_dir() -> Path:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]),
        reverse=True,
    )
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise RuntimeError(
        "PostgreSQL is not installed: run `make test` (it installs Debian's postgresql) "
        "or set SIMREG_TEST_PG_URL to a server of your own"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_IMMEDIATE = ("-m", "immediate", "stop")


@dataclass
class PostgresServer:
    """A running server and how to reach it."""

    data_dir: Path
    port: int
    bin_dir: Path
    run_as: list[str]
    options: str = ""

    @property
    def admin_url(self) -> str:
        """URL of the maintenance database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        """URL of one database on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def halt(self) -> None:
        """Stop at once, keeping the data (a crash or a restart, for fault tests)."""
        subprocess.run(
            [*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *_IMMEDIATE],
            check=False,
            capture_output=True,
        )

    def start(self) -> None:
        """Start on the same port and data (after `halt`) and wait until it accepts connections."""
        _pg_ctl_start(self.run_as, self.bin_dir, self.data_dir, self.options)
        _wait_for_port(self.port)

    def stop(self) -> None:
        """Stop at once and remove the data."""
        self.halt()
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


OWNER = "owner.pid"
"""The file in a scratch folder naming the process that made it (see `sweep_abandoned`)."""


def owned_scratch(prefix: str) -> Path:
    """A new folder under the temporary directory, named `prefix…`, that records this
    process as its owner; folders of the same prefix whose owner died (killed before it could
    clean up) are removed first."""
    sweep_abandoned(prefix)
    root = Path(tempfile.mkdtemp(prefix=prefix))
    (root / OWNER).write_text(str(os.getpid()))
    return root


def sweep_abandoned(prefix: str) -> list[Path]:
    """Remove the `prefix…` folders whose owner process is gone, stopping a server still
    running on one first; the folders removed. Folders without an owner file are left."""
    removed = []
    for root in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            owner = int((root / OWNER).read_text())
        except (OSError, ValueError):
            continue
        if _alive(owner):
            continue
        server_pid = root / "data" / "postmaster.pid"
        if server_pid.exists():
            _stop_abandoned(root / "data")
        shutil.rmtree(root, ignore_errors=True)
        removed.append(root)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_abandoned(data_dir: Path) -> None:
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(
        [*run_as, str(_bin_dir() / "pg_ctl"), "-D", str(data_dir), *_IMMEDIATE],
        check=False,
        capture_output=True,
    )


def start_server() -> PostgresServer:
    """initdb + pg_ctl start on a free loopback port; as root, run as the `postgres` user
    because pg_ctl refuses to run as root. Its folder is removed by `stop`, or by the next
    server's start if this process dies first."""
    bin_dir = _bin_dir()
    root = owned_scratch("simreg-pg-")
    data_dir = root / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        [
            *run_as,
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
        # Bulk loads of a million rows: room in memory, and no checkpoint halfway through.
        "-c shared_buffers=512MB -c work_mem=64MB -c maintenance_work_mem=256MB "
        "-c max_wal_size=8GB -c checkpoint_timeout=30min "
        # A new server has no WAL files to recycle yet: a server that has run for a while
        # reuses its old ones, and this one need not write 1.5 GB of zeros to make new ones.
        "-c wal_init_zero=off"
    )
    _pg_ctl_start(run_as, bin_dir, data_dir, options)
    _wait_for_port(port)
    return PostgresServer(
        data_dir=data_dir, port=port, bin_dir=bin_dir, run_as=run_as, options=options
    )


def _wait_start(log_file: Path) -> list[str]:
    return ["-w", "-t", "60", "-l", str(log_file), "start"]


def _pg_ctl_start(run_as: list[str], bin_dir: Path, data_dir: Path, options: str) -> None:
    log_file = data_dir.parent / "server.log"
    subprocess.run(
        [
            *run_as,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data_dir),
            "-o",
            options,
            *_wait_start(log_file),
        ],
        check=True,
        capture_output=True,
    )


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
