"""deploy/ agrees with simreg: every SIMREG_* name is a setting, every command a `simreg`
command, the API instances leave the jobs to exactly one scheduler."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from pydantic import TypeAdapter
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
K8S = DEPLOY / "k8s"
SYSTEMD = DEPLOY / "systemd"
SETTING_NAMES = {f"SIMREG_{name.upper()}" for name in Settings.model_fields}
SETTING_PATTERN = re.compile(r"\bSIMREG_[A-Z0-9_]+")
# What the image runs without a command (deploy/Dockerfile CMD).
IMAGE_DEFAULT_ARGS = ["serve", "--host", "0.0.0.0"]
API_SERVICES = {"api-1", "api-2"}


def resolve_command(args: list[str]) -> list[str]:
    """The path of `simreg` subcommands that `args` runs; fails on an unknown command or
    option, as the command line itself would (checked with --help, which runs nothing)."""
    command: Any = typer.main.get_command(cli)
    path: list[str] = []
    remaining = list(args)
    while hasattr(command, "commands"):
        assert remaining, f"`simreg {' '.join(args)}` names no command under {path or 'simreg'}"
        name = remaining.pop(0)
        assert name in command.commands, f"`simreg {' '.join(args)}`: no command {name!r}"
        command, path = command.commands[name], [*path, name]
    result = CliRunner().invoke(cli, [*args, "--help"])
    if result.exit_code != 0:
        pytest.fail(f"`simreg {' '.join(args)}` is refused:\n{result.output}")
    return path


def as_bool(value: object) -> bool:
    """A setting's value read as simreg reads it."""
    return TypeAdapter(bool).validate_python(value)


def strings_in(node: Any) -> Iterator[str]:
    """Every key and scalar of a parsed YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings_in(item)
    elif node is not None:
        yield str(node)


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def compose_services_of_image() -> dict[str, dict[str, Any]]:
    """The compose services that run the simreg image."""
    return {
        name: service
        for name, service in compose()["services"].items()
        if "build" in service or str(service.get("image", "")).startswith("simreg")
    }


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) for item in environment)
    return {str(k): str(v) for k, v in environment.items()}


def compose_args(service: dict[str, Any]) -> list[str]:
    command = service.get("command", IMAGE_DEFAULT_ARGS)
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def k8s_documents() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return documents


def k8s_workloads() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, container) for every container of every Deployment and Job."""
    found = []
    for document in k8s_documents():
        if document.get("kind") in ("Deployment", "Job"):
            for container in document["spec"]["template"]["spec"]["containers"]:
                found.append((document, container))
    return found


def k8s_args(container: dict[str, Any]) -> list[str]:
    command = [str(a) for a in container.get("command", [])]
    args = [str(a) for a in container.get("args", IMAGE_DEFAULT_ARGS)]
    if command:
        assert Path(command[0]).name == "simreg", f"{container['name']} runs {command[0]}"
        return command[1:] + args
    return args


def k8s_environment(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet builds it: envFrom, then env over it."""
    maps = {
        (d["kind"], d["metadata"]["name"]): {**d.get("data", {}), **d.get("stringData", {})}
        for d in k8s_documents()
        if d.get("kind") in ("ConfigMap", "Secret")
    }
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if ref in source:
                environment.update(maps.get((kind, source[ref]["name"]), {}))
    for variable in container.get("env", []):
        environment[variable["name"]] = str(variable.get("value", ""))
    return environment


def systemd_commands() -> dict[str, list[list[str]]]:
    """Per unit, the arguments given to `simreg` by its Exec* lines."""
    commands: dict[str, list[list[str]]] = {}
    for unit in sorted(SYSTEMD.glob("*.service")):
        for line in unit.read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep and key.startswith("Exec"):
                words = shlex.split(value.lstrip("-@:+!"))
                assert Path(words[0]).name == "simreg", f"{unit.name}: {line}"
                commands.setdefault(unit.name, []).append(words[1:])
    return commands


class TestSettingNames:
    @pytest.mark.parametrize(
        "path",
        sorted(p for p in DEPLOY.rglob("*") if p.is_file()),
        ids=lambda p: str(p.relative_to(DEPLOY)),
    )
    def test_every_simreg_name_is_a_setting(self, path: Path) -> None:
        unknown = set(SETTING_PATTERN.findall(path.read_text(encoding="utf-8"))) - SETTING_NAMES
        assert not unknown, f"{path.relative_to(DEPLOY.parent)} names no such setting: {unknown}"

    def test_parsed_compose_and_k8s_names_are_settings(self) -> None:
        documents = [compose(), *k8s_documents()]
        names = {n for d in documents for s in strings_in(d) for n in SETTING_PATTERN.findall(s)}
        assert names, "no SIMREG_* setting found in deploy/"
        assert names <= SETTING_NAMES, names - SETTING_NAMES

    def test_the_secret_template_holds_every_secret_production_refuses(self) -> None:
        secrets = {
            name
            for d in k8s_documents()
            if d.get("kind") == "Secret"
            for name in d.get("stringData", {})
        }
        assert {
            "SIMREG_JWT_SECRET",
            "SIMREG_PD_KEYS",
            "SIMREG_PD_HASH_KEY",
            "SIMREG_CURSOR_SECRET",
            "SIMREG_PORTAL_SIGNING_SECRET",
            "SIMREG_SESSION_SECRET",
            "SIMREG_DATABASE_URL",
        } <= secrets


class TestCommands:
    def test_the_resolver_refuses_what_simreg_refuses(self) -> None:
        assert resolve_command(["jobs", "list"]) == ["jobs", "list"]
        with pytest.raises(AssertionError):
            resolve_command(["migrate-all"])
        with pytest.raises(pytest.fail.Exception):
            resolve_command(["serve", "--hots", "0.0.0.0"])

    def test_compose_runs_simreg_commands(self) -> None:
        for name, service in compose_services_of_image().items():
            assert resolve_command(compose_args(service)), name

    def test_k8s_runs_simreg_commands(self) -> None:
        for workload, container in k8s_workloads():
            assert resolve_command(k8s_args(container)), workload["metadata"]["name"]

    def test_systemd_runs_simreg_commands(self) -> None:
        commands = systemd_commands()
        assert set(commands) == {"simreg-api.service", "simreg-scheduler.service"}
        resolved = {
            unit: [resolve_command(args) for args in runs] for unit, runs in commands.items()
        }
        assert resolved["simreg-api.service"] == [["migrate"], ["serve"]]
        assert resolved["simreg-scheduler.service"] == [["scheduler"]]

    def test_the_image_default_is_serve(self) -> None:
        dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
        assert 'ENTRYPOINT ["simreg"]' in dockerfile
        assert 'CMD ["serve", "--host", "0.0.0.0"]' in dockerfile
        assert resolve_command(IMAGE_DEFAULT_ARGS) == ["serve"]


class TestComposeLayout:
    def test_api_instances_leave_the_jobs_to_the_scheduler(self) -> None:
        services = compose_services_of_image()
        serving = {n for n, s in services.items() if resolve_command(compose_args(s)) == ["serve"]}
        assert serving == API_SERVICES
        for name in serving:
            environment = compose_environment(services[name])
            assert "SIMREG_SCHEDULER_IN_PROCESS" in environment, name
            assert as_bool(environment["SIMREG_SCHEDULER_IN_PROCESS"]) is False, name

    def test_exactly_one_scheduler(self) -> None:
        services = compose_services_of_image()
        schedulers = [s for s in services.values() if compose_args(s)[:1] == ["scheduler"]]
        assert len(schedulers) == 1
        assert schedulers[0].get("deploy", {}).get("replicas", 1) == 1

    def test_everything_waits_for_the_database_and_the_migration(self) -> None:
        services = compose()["services"]
        assert services["postgres"]["image"] == "postgres:16"
        assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
        for name in [*API_SERVICES, "scheduler"]:
            depends_on = services[name]["depends_on"]
            assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
            assert services[name]["env_file"] == ".env", name

    def test_the_api_instances_publish_different_ports(self) -> None:
        services = compose()["services"]
        ports = [port for name in sorted(API_SERVICES) for port in services[name]["ports"]]
        host_ports = [str(port).rsplit(":", 1)[0] for port in ports]
        assert len(host_ports) == len(set(host_ports)) == len(API_SERVICES)


class TestKubernetesLayout:
    def test_api_instances_leave_the_jobs_to_the_scheduler(self) -> None:
        serving = [(w, c) for w, c in k8s_workloads() if resolve_command(k8s_args(c)) == ["serve"]]
        assert serving
        for workload, container in serving:
            assert workload["kind"] == "Deployment"
            assert workload["spec"]["replicas"] == 2
            environment = k8s_environment(container)
            assert as_bool(environment["SIMREG_SCHEDULER_IN_PROCESS"]) is False
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert container["resources"]["requests"]

    def test_exactly_one_scheduler(self) -> None:
        schedulers = [
            w for w, c in k8s_workloads() if resolve_command(k8s_args(c)) == ["scheduler"]
        ]
        assert len(schedulers) == 1
        (scheduler,) = schedulers
        assert scheduler["kind"] == "Deployment"
        assert scheduler["spec"]["replicas"] == 1
        assert scheduler["spec"]["strategy"]["type"] == "Recreate"

    def test_the_migration_is_a_job(self) -> None:
        migrations = [w for w, c in k8s_workloads() if resolve_command(k8s_args(c)) == ["migrate"]]
        assert [w["kind"] for w in migrations] == ["Job"]

    def test_the_manifests_carry_no_namespace(self) -> None:
        for document in k8s_documents():
            assert "namespace" not in document.get("metadata", {}), document["metadata"]

    def test_the_kustomization_lists_every_manifest_but_the_secret_template(self) -> None:
        (kustomization,) = [d for d in k8s_documents() if d.get("kind") == "Kustomization"]
        manifests = {p.name for p in K8S.glob("*.yaml")} - {
            "kustomization.yaml",
            "secret.template.yaml",
        }
        assert set(kustomization["resources"]) == manifests


class TestSystemdLayout:
    def test_the_api_unit_leaves_the_jobs_to_the_scheduler(self) -> None:
        unit = (SYSTEMD / "simreg-api.service").read_text(encoding="utf-8")
        assert "Environment=SIMREG_SCHEDULER_IN_PROCESS=false" in unit.splitlines()

    @pytest.mark.parametrize("unit", ["simreg-api.service", "simreg-scheduler.service"])
    def test_units_read_the_settings_file_and_are_confined(self, unit: str) -> None:
        lines = (SYSTEMD / unit).read_text(encoding="utf-8").splitlines()
        for expected in (
            "EnvironmentFile=/etc/simreg/simreg.env",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ReadWritePaths=/var/lib/simreg/uploads",
        ):
            assert expected in lines, f"{unit}: {expected}"
