"""Benches and test servers leave nothing behind: a scratch folder goes when its bench ends,
when the bench is stopped, or, if it was killed outright, at the next bench's start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from app.benchmarks.common import scratch
from app.db.local_postgres import OWNER, start_server, sweep_abandoned

PREFIX = f"simreg-scratch-test-{os.getpid()}-"


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    return int(done.stdout)


def _gone(pid: int, *, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _folder(owner: int | None) -> Path:
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    if owner is not None:
        (root / OWNER).write_text(str(owner))
    return root


def test_only_the_folders_of_dead_owners_are_swept() -> None:
    abandoned, mine, unowned = _folder(_dead_pid()), _folder(os.getpid()), _folder(None)

    removed = sweep_abandoned(PREFIX)

    assert removed == [abandoned]
    assert not abandoned.exists()
    assert mine.exists()
    assert unowned.exists()
    for root in (mine, unowned):
        (root / OWNER).unlink(missing_ok=True)
        root.rmdir()


def test_a_scratch_folder_goes_when_its_bench_ends() -> None:
    with scratch("test") as workdir:
        (workdir / "bench.db").write_bytes(b"x" * 1000)
        assert (workdir / OWNER).read_text() == str(os.getpid())

    assert not workdir.exists()


def test_a_bench_stopped_by_sigterm_removes_its_folder(tmp_path: Path) -> None:
    said = tmp_path / "workdir"
    script = textwrap.dedent(f"""
        import time
        from app.benchmarks.commands import _on_stop
        from app.benchmarks.common import scratch
        _on_stop()
        with scratch("test") as workdir:
            open({str(said)!r}, "w").write(str(workdir))
            time.sleep(60)
    """)
    bench = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 30
    while not said.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    workdir = Path(said.read_text())
    assert workdir.exists()

    bench.send_signal(signal.SIGTERM)
    assert bench.wait(timeout=30) == 128 + signal.SIGTERM

    assert not workdir.exists()


@pytest.mark.postgres_only
def test_a_server_left_running_by_a_killed_process_is_stopped_and_removed() -> None:
    script = textwrap.dedent("""
        import os, signal
        from app.db.local_postgres import start_server
        server = start_server()
        print(server.data_dir, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL
    data_dir = Path(killed.stdout.strip())
    server_pid = int((data_dir / "postmaster.pid").read_text().split()[0])

    server = start_server()  # sweeps what the killed process left
    try:
        assert not data_dir.exists()
        assert _gone(server_pid, within=10)
    finally:
        server.stop()
