"""PostgreSQL restarted under load: a running API instance answers 503 problem+json at once
while the database is away, and serves again when it is back, without being restarted."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.db.local_postgres import PostgresServer, start_server
from tests.builders import make_person, token_headers
from tests.cluster.topology import Cluster, cluster
from tests.conftest import scratch_database

pytestmark = [pytest.mark.cluster, pytest.mark.postgres_only]

WORKERS = 4


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of this test's own: it is stopped and started again mid-test."""
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def topology(own_server: PostgresServer, tmp_path: Path) -> Iterator[Cluster]:
    with (
        scratch_database(own_server.admin_url, "simreg") as url,
        cluster(
            url,
            tmp_path,
            scheduler_in_process="false",
            db_pool_size="4",
            # One person's token drives the load: their rate limit is not what is tested here.
            person_requests_per_minute="0",
        ) as started,
    ):
        yield started


class Load:
    """Threads reading a person's numbers as fast as they can, tallying what came back."""

    def __init__(self, base_url: str, path: str, headers: dict[str, str]) -> None:
        self.base_url = base_url
        self.path = path
        self.headers = headers
        self.seen: Counter[int] = Counter()
        self.slowest = 0.0
        self.problems: list[dict[str, object]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(WORKERS)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = client.get(self.path, headers=self.headers)
                except httpx.TransportError:
                    code = 0  # the instance itself did not answer
                else:
                    code = response.status_code
                took = time.monotonic() - started
                with self._lock:
                    self.seen[code] += 1
                    self.slowest = max(self.slowest, took)
                    if code == 503 and len(self.problems) < 5:
                        self.problems.append(
                            {"content_type": response.headers["content-type"], **response.json()}
                        )

    def tally(self) -> tuple[Counter[int], float]:
        """What was answered since the last tally, and the slowest answer's seconds."""
        with self._lock:
            seen, slowest = self.seen, self.slowest
            self.seen, self.slowest = Counter(), 0.0
        return seen, slowest


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/me/numbers",  # SQLAlchemy's pool, in the thread pool
        "/api/v1/me/numbers/status",  # the asyncpg pool, in the event loop
    ],
)
def test_a_database_restart_under_load_answers_503_then_recovers(
    topology: Cluster, own_server: PostgresServer, path: str
) -> None:
    api = topology.start_api("api")
    with httpx.Client(base_url=api.base_url, timeout=30) as client:
        person = make_person(client)
        me = token_headers(client, role="person", subject=person["portal_subject"])

    with Load(api.base_url, path, me) as load:
        time.sleep(1.5)
        before, _ = load.tally()
        assert set(before) == {200}, before

        own_server.halt()
        time.sleep(3)
        during, slowest_while_down = load.tally()
        # Fast failures, each a problem+json naming the cause, never a 500 or a hung request.
        assert set(during) == {503} or set(during) == {200, 503}, during
        assert during[503] > 20, during
        problem = load.problems[0]
        assert problem["content_type"] == "application/problem+json"
        assert str(problem["type"]).endswith("/database-unavailable")
        assert httpx.get(api.base_url + "/readyz").status_code == 503
        assert httpx.get(api.base_url + "/healthz").status_code == 200

        own_server.start()
        deadline = time.monotonic() + 15
        while (
            time.monotonic() < deadline and httpx.get(api.base_url + "/readyz").status_code != 200
        ):
            time.sleep(0.2)
        load.tally()
        time.sleep(1.5)
        after, _ = load.tally()

    assert set(after) == {200}, after
    assert slowest_while_down < 5, slowest_while_down
    assert api.popen.poll() is None  # the same process, never restarted
