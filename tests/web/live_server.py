"""The test's app served by uvicorn in a thread, as a browser reaches it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

STARTUP_SECONDS = 15.0


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve `app` (its lifespan included) on a free 127.0.0.1 port; yield its base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan="on",
        # The test process's logging stays as pytest set it.
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    # Off the main thread uvicorn installs no signal handlers; should_exit stops it.
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="live-server", daemon=True
    )
    thread.start()
    try:
        _wait_until_started(server, thread)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()
    assert not thread.is_alive(), "the live server did not stop within 10 s"


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the live server stopped while starting: see its log above")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the live server did not start within {STARTUP_SECONDS:.0f} s")
        time.sleep(0.02)
