"""The README stays true: it opens with the two commands, its API table lists exactly the
OpenAPI document's paths and methods, and its walkthrough holds on the demo registry."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.runtime import Runtime
from app.demo import load_demo
from tests.builders import token_headers
from tests.conftest import START

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DEMO_LIST = ROOT / "docs" / "demo-list.csv"
METHODS = {"GET", "PUT", "POST", "DELETE", "PATCH"}
# A row of the API table: | GET, POST | `/api/v1/...` | who: what |
ROW = re.compile(r"^\|\s*(?P<methods>[A-Z, ]+?)\s*\|\s*`(?P<path>/[^`]*)`\s*\|")


def section(title: str) -> str:
    """The README's text under a `## ` heading, up to the next one."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else len(README)]


def documented_operations() -> set[tuple[str, str]]:
    """(method, path) of every row of the README's API table."""
    operations: set[tuple[str, str]] = set()
    for line in section("API v1").splitlines():
        if match := ROW.match(line):
            methods = {m.strip() for m in match["methods"].split(",")}
            assert methods <= METHODS, line
            operations |= {(method, match["path"]) for method in methods}
    return operations


def openapi_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every operation of the OpenAPI document."""
    return {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method.upper() in METHODS
    }


class TestTheReadmeOpensWithTheTwoCommands:
    def test_make_run_then_make_test(self) -> None:
        lines = README.splitlines()
        assert lines[0] == "# simreg"
        block = lines[lines.index("```sh") + 1 : lines.index("```")]
        assert [line.split()[:2] for line in block] == [["make", "run"], ["make", "test"]]
        assert lines.index("```sh") == 2


class TestTheApiTableIsTheOpenapiDocument:
    def test_every_documented_operation_exists(self, app: FastAPI) -> None:
        unknown = documented_operations() - openapi_operations(app)
        assert not unknown, f"in the README but not in the API: {sorted(unknown)}"

    def test_every_operation_is_documented(self, app: FastAPI) -> None:
        missing = openapi_operations(app) - documented_operations()
        assert not missing, f"in the API but not in the README's table: {sorted(missing)}"

    def test_each_path_has_one_row(self) -> None:
        paths = [m["path"] for line in section("API v1").splitlines() if (m := ROW.match(line))]
        assert len(paths) == len(set(paths))


class TestTheWalkthroughsPersonIsTheListsEmployee:
    def test_the_sandbox_person_shares_the_passport_and_birth_date(self) -> None:
        walkthrough = section("Five minutes with the demo")
        body = re.search(r"sandbox/people .* -d '(?P<json>\{.*?\})'", walkthrough)
        assert body, "the walkthrough creates a sandbox person"
        person = json.loads(body["json"])
        with DEMO_LIST.open(encoding="utf-8", newline="") as file:
            first_row = next(csv.DictReader(file, delimiter=";"))
        born = dt.datetime.strptime(first_row["Дата рождения"], "%d.%m.%Y").date()
        assert person["birth_date"] == born.isoformat()
        assert person["passport"] == first_row["Серия и номер паспорта"]
        assert person["last_name"] == first_row["Фамилия"]
        digits = re.sub(r"\D", "", first_row["Номер телефона"])
        assert f"q={digits}" in walkthrough


class TestTheWalkthroughHoldsOnTheDemo:
    """Steps 2 to 6 of the walkthrough, as the README gives them, on the demo registry."""

    def test_upload_match_suspend_confirm_reactivate(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        load_demo(runtime)
        staff = token_headers(client, role="operator_staff", subject="staff@demo")
        admin = token_headers(client, role="company_admin", company_id=1)
        operator = token_headers(client, role="operator_system", operator_id=1)
        body = re.search(
            r"sandbox/people .* -d '(?P<json>\{.*?\})'", section("Five minutes with the demo")
        )
        assert body
        made = client.post("/api/v1/sandbox/people", json=json.loads(body["json"]), headers=staff)
        assert made.status_code == 201, made.text
        ivanov = token_headers(client, role="person", subject="ivanov")

        with DEMO_LIST.open("rb") as file:
            upload = client.post(
                "/api/v1/companies/1/uploads",
                files={"file": ("demo-list.csv", file, "text/csv")},
                data={"mode": "apply"},
                headers=admin,
            )
        assert upload.status_code == 202, upload.text
        done = client.get(f"/api/v1/companies/1/uploads/{upload.json()['id']}", headers=admin)
        assert done.json()["status"] == "done"
        assert done.json()["counts"]["accepted"] == 1
        assert [(e["row"], e["column"], e["code"]) for e in done.json()["first_errors"]] == [
            (3, "birth_date", "date.invalid")
        ]
        (number,) = client.get(
            "/api/v1/companies/1/numbers", params={"q": "79160001120"}, headers=admin
        ).json()["items"]
        assert number["status"] == "pending_confirmation"
        deadline = dt.datetime.fromisoformat(number["deadline_at"])
        assert START + dt.timedelta(days=14) < deadline < START + dt.timedelta(days=25)

        run = client.post("/api/v1/operator/matching-runs", headers=operator)
        assert run.status_code == 200, run.text
        # On the standing test clock no time passes by itself: a minute lets the dispatcher
        # send the demo's queue at the portal's rate, as ten seconds of wall time do live.
        client.put("/api/v1/sandbox/clock", json={"advance_days": 1 / 1440}, headers=staff)
        assert client.post("/api/v1/jobs/dispatch/run", headers=staff).json()["outcome"] == "ok"
        (request,) = client.get("/api/v1/me/confirmation-requests", headers=ivanov).json()
        assert request["status"] == "sent"

        moved = client.put("/api/v1/sandbox/clock", json={"advance_days": 25}, headers=staff)
        assert moved.status_code == 200, moved.text
        deadlines = client.post("/api/v1/jobs/deadlines/run", headers=staff).json()
        assert deadlines["summary"]["suspended"] >= 1
        detail = f"/api/v1/companies/1/numbers/{number['id']}"
        assert client.get(detail, headers=admin).json()["status"] == "suspended"

        confirm = f"/api/v1/me/confirmation-requests/{request['id']}/confirm"
        assert client.post(confirm, headers=ivanov).status_code == 200
        again = client.post("/api/v1/operator/matching-runs", headers=operator).json()
        assert again["confirmed_active"] == 1
        events = client.get(detail, headers=admin).json()["events"]
        assert [e["to_status"] for e in events][-2:] == ["suspended", "active"]
