"""`simreg bench loadtest` (`make loadtest`): wrk against two API workers on PostgreSQL.

Seeds one company of `company_numbers` numbers (1,000,000 by default), `people` persons each
the user of `numbers_each` of them, starts `simreg serve --workers 2` on a throwaway PostgreSQL,
and drives three reads with wrk, each request with a different person's (or the admin's)
token: a person checking their numbers' status (`GET /me/numbers/status`), the admin's first
page of the company's numbers, and the company's overview (the admin's dashboard); then the
admin's two pages as a browser asks for them, with a session signed in through the sign-in
form: the numbers list and the dashboard. Prints
requests/s and p50/p99 latency, and each admin read's requests/s as a share of the status
read's in the same run.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from app.auth.service import Principal, Role, TokenService
from app.benchmarks.common import (
    NOW,
    bench_database,
    fold_tallies,
    process_env,
    seed_company,
    vacuum_analyze,
    wait_until_answering,
)
from app.config import Environment, Settings
from app.core.personal_data import PersonalDataVault
from app.db.base import UtcDateTime
from app.web.sessions import SESSION_COOKIE

_STATUSES = ["pending_confirmation", "active", "active", "active", "suspended", "mismatch"]


def seed_people(url: str, *, people: int, numbers_each: int) -> None:
    """`people` portal accounts, each the current user of `numbers_each` of the company's
    numbers, in a mix of statuses with deadlines (set-up, written set-based)."""
    settings = Settings(env=Environment.DEV, database_url=url, _env_file=None)
    vault = PersonalDataVault.from_settings(
        keys=settings.pd_keys,
        active_key_id=settings.pd_active_key_id,
        hash_key=settings.pd_hash_key,
    )
    # Every account carries a sealed record of realistic size; the status read never opens it.
    sealed = vault.seal({"birth_date": "1980-01-01", "doc_number": "4510 123456"})
    engine = create_engine(url)
    stamp = UtcDateTime().process_bind_param(NOW, engine.dialect)
    deadline = UtcDateTime().process_bind_param(NOW + dt.timedelta(days=20), engine.dialect)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO people (portal_subject, last_name, first_name, name_key, pd_sealed, "
                "pd_key_id, doc_hash, birth_date_hash, created_at) "
                "SELECT 'lt-' || i, 'Иванов', 'Иван', 'ИВАНОВ ИВАН ' || i, :sealed, :key, "
                "'d' || i, 'b' || i, :now FROM generate_series(1, :people) AS i"
            ),
            {"sealed": sealed, "key": vault.active_key_id, "now": stamp, "people": people},
        )
        conn.execute(
            text(
                "INSERT INTO registrations (number_id, kind, last_name, first_name, name_key, "
                "doc_type, doc_hash, birth_date_hash, source, submitted_by, created_at) "
                "SELECT id, 'employee', 'Иванов', 'Иван', 'ИВАНОВ ИВАН', 'ru_passport', "
                "'d' || ((id - 1) / :each + 1), 'b' || ((id - 1) / :each + 1), 'bench', "
                "'bench', :now FROM numbers WHERE id <= :n"
            ),
            {"each": numbers_each, "n": people * numbers_each, "now": stamp},
        )
        conn.execute(
            text(
                "UPDATE numbers SET sim_kind = 'employee', deadline_at = :deadline, "
                "status = (CAST(:statuses AS text[]))[1 + id % :kinds] WHERE id <= :n"
            ),
            {
                "deadline": deadline,
                "n": people * numbers_each,
                "statuses": _STATUSES,
                "kinds": len(_STATUSES),
            },
        )
    fold_tallies(engine)
    vacuum_analyze(engine)
    engine.dispose()


def _wrk_script(
    path: Path,
    target: str,
    tokens: list[str],
    *,
    header: str = "Authorization",
    prefix: str = "Bearer ",
) -> None:
    """A wrk script sending each request with one of `tokens` in `header`, at random."""
    listed = ",\n".join(f'"{t}"' for t in tokens)
    path.write_text(
        f"local tokens = {{\n{listed}\n}}\n"
        "math.randomseed(os.time())\n"
        "request = function()\n"
        "  local t = tokens[math.random(#tokens)]\n"
        f'  return wrk.format("GET", "{target}", {{["{header}"] = "{prefix}" .. t}})\n'
        "end\n"
    )


def _page_scripts(base: str, workdir: Path, *, company_id: int) -> list[tuple[str, Path]]:
    """The wrk scripts of the admin's two pages, with a session signed in through the sandbox
    sign-in form of the running server (as a browser would)."""
    with httpx.Client(base_url=base, timeout=30) as client:
        form = client.get("/sign-in").text
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        if token is None:
            raise SystemExit("the sign-in page has no form")
        data = {"csrf": token.group(1), "role": "company_admin", "company_id": str(company_id)}
        client.post("/sign-in/sandbox", data=data)
        cookie = [f"{SESSION_COOKIE}={client.cookies[SESSION_COOKIE]}"]
    scripts = []
    for name, target in (
        ("page: numbers", f"/companies/{company_id}/numbers"),
        ("page: overview", f"/companies/{company_id}"),
    ):
        path = workdir / (name.replace(": ", "-") + ".lua")
        _wrk_script(path, target, cookie, header="Cookie", prefix="")
        scripts.append((name, path))
    return scripts


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, p50/p99 (ms) and non-2xx answers from wrk's --latency report."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)\s*$", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)\s*$", output, re.M).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: .*", output)
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    return {
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "requests": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": sum(int(n) for n in re.findall(r"\d+", errors.group(0))) if errors else 0,
    }


def _wrk(base: str, script: Path, *, seconds: int, connections: int) -> dict[str, float]:
    done = subprocess.run(
        [
            shutil.which("wrk") or "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    try:
        return parse_wrk(done.stdout)
    except AttributeError:
        raise SystemExit("wrk printed what was not understood:\n" + done.stdout) from None


def run(
    *,
    people: int,
    numbers_each: int,
    company_numbers: int,
    seconds: int,
    connections: int,
    log_level: str,
) -> list[dict[str, Any]]:
    """Seed, serve with two workers, drive the reads; print and return the figures."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `make loadtest` installs Debian's wrk")
    size = max(company_numbers, people * numbers_each)
    print(
        f"loadtest  seeding one company of {size:,} numbers, {people:,} persons with "
        f"{numbers_each} each",
        flush=True,
    )
    figures: list[dict[str, Any]] = []
    with bench_database("postgresql") as db:
        company_id = seed_company(db.url, numbers=size)
        seed_people(db.url, people=people, numbers_each=numbers_each)
        workdir = db.workdir / "loadtest"
        workdir.mkdir()
        scripts = _scripts(db.url, workdir, people=people, company_id=company_id)
        port = 18000 + os.getpid() % 1000
        server, log = _serve(db.url, workdir, port=port, log_level=log_level)
        base = f"http://127.0.0.1:{port}"
        try:
            failed = wait_until_answering(base + "/readyz", server)
            if failed:
                raise SystemExit(f"the API did not start: {failed}\n{log.read_text()[-3000:]}")
            for name, script in scripts + _page_scripts(base, workdir, company_id=company_id):
                _wrk(base, script, seconds=3, connections=connections)  # warm-up: pools, plans
                result = _wrk(base, script, seconds=seconds, connections=connections)
                figures.append(
                    {"read": name, "numbers": size, "people": people, "log_level": log_level}
                    | result
                )
                _print(name, result, connections=connections, log_level=log_level)
        finally:
            server.terminate()
            server.wait(timeout=30)
    _print_shares(figures)
    return figures


def _print_shares(figures: list[dict[str, Any]]) -> None:
    """Each admin read's (and page's) requests/s as a share of the person's status read's."""
    status = next(f["rps"] for f in figures if f["read"] == "person status")
    for figure in figures:
        if figure["read"] != "person status":
            print(
                f"loadtest  {figure['read']:<14} {figure['rps'] / status:.2f}x the status "
                f"read's requests/s ({figure['numbers']:,} numbers)",
                flush=True,
            )


def _scripts(url: str, workdir: Path, *, people: int, company_id: int) -> list[tuple[str, Path]]:
    """The wrk scripts of the three reads, with tokens of up to 5,000 people and of the admin."""
    tokens = TokenService(Settings(env=Environment.DEV, database_url=url, _env_file=None))
    now = dt.datetime.now(dt.UTC)
    ttl = dt.timedelta(hours=2)
    sample = range(1, people + 1, max(1, people // 5000))
    person_script = workdir / "person.lua"
    _wrk_script(
        person_script,
        "/api/v1/me/numbers/status",
        [tokens.mint(Principal(Role.PERSON, f"lt-{i}"), now=now, ttl=ttl) for i in sample],
    )
    admin = Principal(Role.COMPANY_ADMIN, "admin@bench", company_id=company_id)
    admin_token = [tokens.mint(admin, now=now, ttl=ttl)]
    admin_script = workdir / "admin.lua"
    _wrk_script(admin_script, f"/api/v1/companies/{company_id}/numbers?limit=50", admin_token)
    overview_script = workdir / "overview.lua"
    _wrk_script(overview_script, f"/api/v1/companies/{company_id}/overview", admin_token)
    return [
        ("person status", person_script),
        ("admin list", admin_script),
        ("overview", overview_script),
    ]


def _serve(
    url: str, workdir: Path, *, port: int, log_level: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """`simreg serve` with two workers on `port`, its output in the returned log file."""
    env = process_env(
        env="dev",
        database_url=url,
        scheduler_in_process="false",
        upload_resume_on_start="false",
        log_level=log_level,
    )
    log = workdir / "api.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return server, log


def _print(name: str, result: dict[str, Any], *, connections: int, log_level: str) -> None:
    print(
        f"loadtest  {name:<14} 2 workers, PostgreSQL, {connections} connections, "
        f"log {log_level}: {result['rps']:,.0f} requests/s, p50 "
        f"{result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms "
        f"({int(result['requests']):,} requests, non-2xx {int(result['non_2xx'])}, "
        f"socket errors {int(result['socket_errors'])})",
        flush=True,
    )
