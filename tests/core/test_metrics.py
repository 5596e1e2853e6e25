"""GET /metrics: requests by route template, uploads, matching, job runs and registry gauges."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.core.runtime import Runtime
from app.matching.jobs import matching_cycle
from app.scheduler.service import run_tick
from tests.builders import make_company_with_numbers, staff_headers
from tests.uploads.builders import DEVICE_HEADER, csv_bytes, device_row, upload

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    """Every sample /metrics shows, by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when /metrics does not show it (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


class TestTheEndpoint:
    def test_answers_in_the_prometheus_text_format(self, client: TestClient) -> None:
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert "# TYPE simreg_http_requests_total counter" in response.text
        assert "# TYPE simreg_http_request_duration_seconds histogram" in response.text


class TestRequests:
    def test_counted_by_route_template_never_the_raw_path(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=2)
        company_id = world["company"]["id"]
        template = "/api/v1/companies/{company_id}/numbers"
        labels = {"route": template, "method": "GET", "status": "2xx"}
        before = scrape(client)

        response = client.get(f"/api/v1/companies/{company_id}/numbers", headers=world["admin"])
        assert response.status_code == 200, response.text

        after = scrape(client)
        counted = "simreg_http_requests_total"
        assert value(after, counted, **labels) == value(before, counted, **labels) + 1
        timed = "simreg_http_request_duration_seconds_count"
        assert value(after, timed, **labels) == value(before, timed, **labels) + 1
        text = client.get("/metrics").text
        assert f"/api/v1/companies/{company_id}/numbers" not in text

    def test_status_class_and_unmatched_paths(self, client: TestClient) -> None:
        before = scrape(client)
        assert client.get("/api/v1/companies/1", headers=staff_headers(client)).status_code == 404
        assert client.get("/no/such/path/42").status_code == 404
        after = scrape(client)
        name = "simreg_http_requests_total"
        missing = {"route": "/api/v1/companies/{company_id}", "method": "GET", "status": "4xx"}
        assert value(after, name, **missing) == value(before, name, **missing) + 1
        unmatched = {"route": "unmatched", "method": "GET", "status": "4xx"}
        assert value(after, name, **unmatched) == value(before, name, **unmatched) + 1
        assert "/no/such/path/42" not in client.get("/metrics").text


class TestJobs:
    def test_a_tick_counts_the_run_and_its_duration(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        ok = {"job": "deadlines", "outcome": "ok"}
        before = scrape(client)

        outcome = run_tick(runtime, "deadlines", slot="3600s:1", claimed_by="a")
        assert (outcome.ran, outcome.outcome) == (True, "ok")
        run_tick(runtime, "deadlines", slot="3600s:1", claimed_by="b")  # taken: not a run

        after = scrape(client)
        runs = "simreg_job_runs_total"
        assert value(after, runs, **ok) == value(before, runs, **ok) + 1
        durations = "simreg_job_duration_seconds_count"
        assert value(after, durations, **ok) == value(before, durations, **ok) + 1

    def test_the_metrics_job_refreshes_the_status_gauge(
        self, client: TestClient, runtime: Runtime
    ) -> None:
        make_company_with_numbers(client, count=3)

        outcome = run_tick(runtime, "metrics", slot="60s:1", claimed_by="a")
        assert (outcome.ran, outcome.outcome) == (True, "ok")
        assert outcome.summary == {
            "numbers": 3,
            "notifications_backlog": 0,
            "confirmation_queue": 0,
            "confirmation_queue_late": 0,
        }

        samples = scrape(client)
        assert value(samples, "simreg_numbers", status="unregistered") == 3
        assert ("simreg_numbers", frozenset({("status", "active")})) in samples
        assert value(samples, "simreg_numbers", status="active") == 0
        assert ("simreg_notifications_backlog", frozenset()) in samples
        assert value(samples, "simreg_metrics_refreshed_timestamp_seconds") > 0

    def test_every_scheduler_runs_the_metrics_tick(self, runtime: Runtime) -> None:
        first = run_tick(runtime, "metrics", slot="60s:7", claimed_by="host-a:1")
        second = run_tick(runtime, "metrics", slot="60s:7", claimed_by="host-b:2")
        assert (first.ran, second.ran) == (True, True)
        assert first.slot != second.slot


class TestUploadsAndMatching:
    def test_rows_of_a_finished_upload(self, client: TestClient) -> None:
        world = make_company_with_numbers(client, count=2)
        phones = [n["msisdn"] for n in world["numbers"]]
        rows = [device_row(phones[0]), device_row(phones[1]), device_row("not a number")]
        before = scrape(client)

        response = upload(
            client, world["company"]["id"], world["admin"], csv_bytes(DEVICE_HEADER, rows)
        )
        assert response.status_code == 202, response.text

        after = scrape(client)
        processed, rejected = (
            "simreg_upload_rows_processed_total",
            "simreg_upload_rows_rejected_total",
        )
        assert value(after, processed, mode="apply") == value(before, processed, mode="apply") + 3
        assert value(after, rejected, mode="apply") == value(before, rejected, mode="apply") + 1

    def test_matching_outcomes_by_result(self, client: TestClient, runtime: Runtime) -> None:
        before = scrape(client)
        summary: dict[str, Any] = matching_cycle(runtime)
        after = scrape(client)
        name = "simreg_matching_outcomes_total"
        for result in ("devices_activated", "confirmed_active", "mismatched", "expired"):
            assert (name, frozenset({("result", result)})) in after
            grown = value(after, name, result=result) - value(before, name, result=result)
            assert grown == summary[result]
