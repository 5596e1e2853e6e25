"""`make fuzz`: schemathesis over every operation of a running `simreg serve` (demo data on a
throwaway SQLite file), once with an operator staff token and once with a company admin's;
the check is that no answer is a server error. Prints the figures and exits 1 on any failure.

    python -m tests.fuzz [--max-examples N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from tests.cluster.topology import cluster, simreg_env

# Rate limits off: 429s would stand in for the answers the run is after.
SETTINGS = {
    "person_requests_per_minute": "0",
    "failed_logins_per_minute": "0",
    "upload_resume_on_start": "false",
    "scheduler_in_process": "false",
}
ROLES = ("operator_staff", "company_admin")


def _schemathesis(base_url: str, token: str, report: Path, args: argparse.Namespace) -> int:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{base_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(args.max_examples),
        "--workers",
        str(args.workers),
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        "--suppress-health-check",
        "all",
        "--no-color",
    ]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    # In the report's folder: schemathesis keeps a cache where it runs.
    return subprocess.run(command, check=False, cwd=report.parent).returncode


def _figures(report: Path) -> dict[str, int]:
    """Operations, test cases (requests) and failures, read from the ndjson report."""
    operations: set[str] = set()
    cases = failures = 0
    for line in report.read_text().splitlines():
        event = json.loads(line)
        for name, body in event.items():
            if name != "ScenarioFinished":
                continue
            label = str(body.get("recorder", {}).get("label") or body.get("label") or "")
            if " /" in label:  # an operation's, not a stateful scenario's
                operations.add(label)
            recorder = body.get("recorder", {})
            cases += len(recorder.get("interactions", {}))
            failures += sum(
                1
                for checks in recorder.get("checks", {}).values()
                for check in checks
                if check.get("status") == "failure"
            )
    return {"operations": len(operations), "cases": cases, "failures": failures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=50)
    # One: hypothesis parsing sources in two threads at once trips a CPython 3.11 bug in ast.
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="simreg-fuzz-") as scratch:
        workdir = Path(scratch)
        database_url = f"sqlite:///{workdir / 'fuzz.db'}"
        settings = {**SETTINGS, "upload_dir": str(workdir / "uploads")}
        with cluster(database_url, workdir, **settings) as topology:
            subprocess.run(
                [sys.executable, "-m", "app.cli", "demo"],
                env=simreg_env(database_url, **settings),
                check=True,
                capture_output=True,
            )
            api = topology.start_api("api")
            worst = 0
            totals: dict[str, dict[str, int]] = {}
            for role in ROLES:
                token = httpx.get(f"{api.base_url}/api/v1/sandbox/demo-tokens/{role}").json()
                report = workdir / f"{role}.ndjson"
                code = _schemathesis(api.base_url, token["access_token"], report, args)
                totals[role] = _figures(report)
                worst = max(worst, code)
    for role, figures in totals.items():
        print(f"fuzz {role}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    return 1 if worst else 0


if __name__ == "__main__":
    sys.exit(main())
