"""`make loadtest` reads its figures from wrk's report; a misread would print a wrong figure."""

from __future__ import annotations

import pytest

from app.benchmarks.loadtest import parse_wrk

REPORT = """Running 20s test @ http://127.0.0.1:18123
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.52ms    8.01ms 125.80ms   85.50%
    Req/Sec     3.47k   301.22     4.01k    71.00%
  Latency Distribution
     50%    9.80ms
     75%   12.31ms
     90%   17.02ms
     99%  125.80ms
  69007 requests in 20.01s, 31.52MB read
  Non-2xx or 3xx responses: 12
Requests/sec:   3449.12
Transfer/sec:      1.58MB
"""


class TestWrkReport:
    def test_the_figures_come_from_the_distribution_not_the_thread_stats(self) -> None:
        figures = parse_wrk(REPORT)

        assert figures == {
            "rps": 3449.12,
            "p50_ms": 9.8,
            "p99_ms": 125.8,
            "requests": 69007,
            "non_2xx": 12,
            "socket_errors": 0,
        }

    # wrk pads a figure in seconds to the width of the others ("1.02s ").
    @pytest.mark.parametrize(("written", "ms"), [("850.00us", 0.85), ("1.02s ", 1020.0)])
    def test_every_unit_wrk_prints_is_read_as_milliseconds(self, written: str, ms: float) -> None:
        report = REPORT.replace("99%  125.80ms", f"99%  {written}")
        assert parse_wrk(report)["p99_ms"] == pytest.approx(ms)

    def test_socket_errors_are_noticed(self) -> None:
        report = REPORT.replace(
            "  Non-2xx", "  Socket errors: connect 0, read 3, write 0, timeout 1\n  Non-2xx"
        )
        assert parse_wrk(report)["socket_errors"] == 4
