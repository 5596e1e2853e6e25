"""`simreg bench exports`: a company's whole list of numbers as CSV and XLSX, the way the export
endpoint writes them (keyset chunks, each in its own transaction), over one seeded company.

Run as a module, it is the measured child process: `python -m app.benchmarks.exports URL
COMPANY_ID csv|xlsx`.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.benchmarks.common import NOW, bench_database, peak_rss_mb, run_child, seed_company


def _child(url: str, company_id: str, fmt: str) -> dict[str, Any]:
    """Write the whole list once; rows, seconds, bytes and this process's peak memory."""
    from app.config import Environment, Settings
    from app.core.runtime import Runtime
    from app.numbers.exports import company_numbers, numbers_csv, numbers_xlsx
    from app.numbers.service import NumberFilter

    runtime = Runtime.build(Settings(env=Environment.DEV, database_url=url, _env_file=None))
    rows = 0

    def counted() -> Any:
        nonlocal rows
        for line in company_numbers(
            runtime.sessions, company_id=int(company_id), flt=NumberFilter()
        ):
            rows += 1
            yield line

    started = time.perf_counter()
    if fmt == "csv":
        size = sum(len(chunk) for chunk in numbers_csv(counted(), now=NOW, language="ru"))
    else:
        with tempfile.TemporaryDirectory() as spool:
            path = Path(spool) / "numbers.xlsx"
            numbers_xlsx(counted(), now=NOW, path=path, language="ru")
            size = path.stat().st_size
    seconds = time.perf_counter() - started
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "bytes": size,
        "peak_rss_mb": peak_rss_mb(),
    }


def run(*, numbers: int, engines: list[str], formats: list[str]) -> list[dict[str, Any]]:
    """Measure and print one export per engine and format."""
    figures = []
    for engine in engines:
        with bench_database(engine) as db:
            company_id = seed_company(db.url, numbers=numbers)
            for fmt in formats:
                result = run_child("app.benchmarks.exports", db.url, str(company_id), fmt)
                figures.append({"engine": engine, "format": fmt, **result})
                print(
                    f"export {engine:<10} {fmt:<4} {result['rows']:,} numbers: "
                    f"{result['seconds']:.1f} s, {result['rows_per_s']:,.0f} rows/s, "
                    f"{result['bytes'] / 2**20:.0f} MiB, peak {result['peak_rss_mb']:.0f} MB",
                    flush=True,
                )
    return figures


if __name__ == "__main__":
    print(json.dumps(_child(*sys.argv[1:])))
