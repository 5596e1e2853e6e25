"""`simreg serve` as production runs it (uvicorn in a process of its own): the client address
that failed sign-ins are counted by comes from X-Forwarded-For only when the connecting proxy is
in SIMREG_TRUSTED_PROXIES. uvicorn's own handling believed the header from anyone on loopback,
so a caller rotating it tried key after key without ever being held back."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.cluster.topology import cluster


def _wrong_keys_with_rotating_forwarded_for(base_url: str, count: int) -> list[int]:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        return [
            client.get(
                "/api/v1/jobs",
                headers={"X-API-Key": f"sk_guess_{n}", "X-Forwarded-For": f"203.0.113.{n}"},
            ).status_code
            for n in range(count)
        ]


class TestServedClientAddress:
    def test_rotating_x_forwarded_for_does_not_escape_the_failed_sign_in_limit(
        self, database_url: str, tmp_path: Path
    ) -> None:
        limits = {"failed_logins_per_minute": "6", "failed_logins_burst": "4"}
        with cluster(database_url, tmp_path, **limits) as topology:
            api = topology.start_api("api")
            codes = _wrong_keys_with_rotating_forwarded_for(api.base_url, 8)
            staff = httpx.get(f"{api.base_url}/api/v1/sandbox/demo-tokens/operator_staff")
            token = staff.json()["access_token"]
            valid = httpx.get(
                f"{api.base_url}/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}
            )

        assert codes == [401] * 4 + [429] * 4
        assert valid.status_code == 200, valid.text

    def test_a_trusted_proxy_reports_each_client(self, database_url: str, tmp_path: Path) -> None:
        settings = {
            "failed_logins_per_minute": "6",
            "failed_logins_burst": "4",
            "trusted_proxies": '["127.0.0.1"]',
        }
        with cluster(database_url, tmp_path, **settings) as topology:
            api = topology.start_api("api")
            codes = _wrong_keys_with_rotating_forwarded_for(api.base_url, 8)

        assert codes == [401] * 8
