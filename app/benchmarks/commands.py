"""`simreg bench`: each benchmark as a command, printing figures measured on this machine.

Each command imports its benchmark when run, so `simreg` starts without them."""

from __future__ import annotations

import signal
import sys

import typer

bench = typer.Typer(help="Benchmarks: print figures measured on this machine.")


@bench.callback()
def _on_stop() -> None:
    """A bench stopped by SIGTERM (`timeout`, `kill`) unwinds as one stopped by Ctrl-C: its
    servers are stopped and its scratch folders removed."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def _csv_ints(value: str) -> list[int]:
    return [int(v.replace("_", "")) for v in value.split(",") if v]


@bench.command("upload")
def bench_upload(
    rows: str = typer.Option("100000,1000000", help="List sizes, comma-separated"),
    engines: str = typer.Option("sqlite,postgresql", help="Engines, comma-separated"),
    naive_rows: int = typer.Option(20_000, help="Rows for the one-ORM-object-per-row baseline"),
) -> None:
    """Upload lists through validate and apply; rows/s, seconds and peak memory per engine."""
    from app.benchmarks.upload import run

    run(sizes=_csv_ints(rows), engines=engines.split(","), naive_rows=naive_rows)


@bench.command("round-trip")
def bench_round_trip(
    rows: int = typer.Option(100_000, help="Refused rows in the error file"),
    engines: str = typer.Option("sqlite", help="Engines, comma-separated"),
) -> None:
    """Download a list's error files (CSV, XLSX) and upload each again as written, timed."""
    from app.benchmarks.round_trip import run

    run(rows=rows, engines=engines.split(","))


@bench.command("match")
def bench_match(
    employees: int = typer.Option(1_000_000, help="Answered employee registrations"),
    devices: int = typer.Option(200_000, help="Device registrations"),
    engines: str = typer.Option("sqlite,postgresql", help="Engines, comma-separated"),
    naive_rows: int = typer.Option(20_000, help="Rows for the row-by-row baseline"),
) -> None:
    """One full matching run; seconds and peak memory per engine, and the row-by-row ratio."""
    from app.benchmarks.match import run

    run(employees=employees, devices=devices, engines=engines.split(","), naive_rows=naive_rows)


@bench.command("work")
def bench_work(
    items: int = typer.Option(200_000, help="Work items to lease and report"),
    batch: int = typer.Option(1_000, help="Items per lease and per result post"),
    engines: str = typer.Option("sqlite,postgresql", help="Engines, comma-separated"),
) -> None:
    """Operator work API: lease + results in batches; items/s and the one-at-a-time ratio."""
    from app.benchmarks.work import run

    run(items=items, batch=batch, engines=engines.split(","), naive_items=5_000)


@bench.command("dispatch")
def bench_dispatch(
    requests: int = typer.Option(1_000_000, help="Queued employee requests, rate limit off"),
    workers: str = typer.Option("1,2", help="Dispatcher processes side by side (PostgreSQL)"),
    engines: str = typer.Option("sqlite,postgresql", help="Engines, comma-separated"),
    pace: int = typer.Option(100_000, help="Queued requests for the pacing run (0 to skip)"),
) -> None:
    """Confirmation requests through the sandbox portal: requests/s and peak memory with the
    rate off; and with the default rate on the dev clock, when the last request went out."""
    from app.benchmarks.dispatch import run

    run(requests=requests, workers=_csv_ints(workers), engines=engines.split(","), pace=pace)


@bench.command("deadlines")
def bench_deadlines(
    sqlite_numbers: int = typer.Option(1_000_000, help="Numbers on SQLite (0 to skip)"),
    pg_numbers: int = typer.Option(5_000_000, help="Numbers on PostgreSQL (0 to skip)"),
    naive_rows: int = typer.Option(50_000, help="Numbers for the one-at-a-time baseline"),
) -> None:
    """One deadline run (recompute, suspend, flag, messages, digests) over a realistic mix."""
    from app.benchmarks.deadlines import run

    sizes = {"sqlite": sqlite_numbers, "postgresql": pg_numbers}
    run(sizes={k: v for k, v in sizes.items() if v}, naive_rows=naive_rows)


@bench.command("exports")
def bench_exports(
    numbers: int = typer.Option(1_000_000, help="Numbers of the one company exported"),
    engines: str = typer.Option("postgresql", help="Engines, comma-separated"),
    formats: str = typer.Option("csv,xlsx", help="Formats, comma-separated"),
) -> None:
    """A company's whole list as CSV and XLSX: rows/s and peak memory per engine and format."""
    from app.benchmarks.exports import run

    run(numbers=numbers, engines=engines.split(","), formats=formats.split(","))


@bench.command("loadtest")
def bench_loadtest(
    people: int = typer.Option(100_000, help="Persons with portal accounts"),
    numbers_each: int = typer.Option(2, help="Numbers per person"),
    company_numbers: int = typer.Option(
        1_000_000,
        help="Numbers of the one company (the persons' among them; the rest have no user)",
    ),
    seconds: int = typer.Option(20, help="Seconds per read"),
    connections: int = typer.Option(32, help="Open connections"),
    log_level: str = typer.Option(
        "INFO", help="The API's SIMREG_LOG_LEVEL (INFO logs each request)"
    ),
) -> None:
    """wrk against two API workers on PostgreSQL: a person's status read, an admin's first
    page of numbers and the company's overview, for a company of 1,000,000 numbers."""
    from app.benchmarks.loadtest import run

    run(
        people=people,
        numbers_each=numbers_each,
        company_numbers=company_numbers,
        seconds=seconds,
        connections=connections,
        log_level=log_level,
    )


@bench.command("all")
def bench_all() -> None:
    """Every benchmark with its default sizes."""
    from app.benchmarks import deadlines, match, upload

    upload.run(sizes=[100_000, 1_000_000], engines=["sqlite", "postgresql"], naive_rows=20_000)
    match.run(
        employees=1_000_000, devices=200_000, engines=["sqlite", "postgresql"], naive_rows=20_000
    )
    deadlines.run(sizes={"sqlite": 1_000_000, "postgresql": 5_000_000}, naive_rows=50_000)
