"""The locks agree with pyproject.toml and are what every install uses: each package pinned
with its hashes, each of pyproject's requirements locked within its bounds, the image's pins
the same as the tested ones."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DEV_LOCK = ROOT / "requirements" / "dev.txt"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
RELOCK = "run `make lock` and commit requirements/"


def lock_entries(path: Path) -> dict[str, tuple[Requirement, list[str]]]:
    """Each locked package by its canonical name: the pinned requirement and its hashes."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    entries: dict[str, tuple[Requirement, list[str]]] = {}
    for line in text.splitlines():
        line = line.partition("#")[0].strip()
        if not line:
            continue
        requirement_text, *options = re.split(r"\s+(?=--)", line)
        requirement = Requirement(requirement_text)
        hashes = [o.removeprefix("--hash=") for o in options if o.startswith("--hash=")]
        entries[canonicalize_name(requirement.name)] = (requirement, hashes)
    return entries


def pinned_version(requirement: Requirement) -> str:
    """The one version an `==` pin names."""
    (specifier,) = requirement.specifier
    assert specifier.operator == "==", f"{requirement} is not pinned"
    return specifier.version


def project_requirements(*, extra: str | None = None) -> list[Requirement]:
    """pyproject.toml's requirements: the runtime ones, or those of one extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    texts = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return [Requirement(text) for text in texts]


@pytest.mark.parametrize("lock", [DEV_LOCK, RUNTIME_LOCK], ids=lambda p: p.name)
class TestEveryPackageIsPinnedWithHashes:
    def test_pins_and_hashes(self, lock: Path) -> None:
        entries = lock_entries(lock)
        assert entries
        for name, (requirement, hashes) in entries.items():
            pinned_version(requirement)
            assert hashes, f"{name} has no hash in {lock.name}"
            assert all(h.startswith("sha256:") for h in hashes), name


class TestTheLocksFollowPyproject:
    @pytest.mark.parametrize(
        ("lock", "extras"),
        [(RUNTIME_LOCK, [None]), (DEV_LOCK, [None, "dev"])],
        ids=["runtime", "dev"],
    )
    def test_every_requirement_is_locked_within_its_bounds(
        self, lock: Path, extras: list[str | None]
    ) -> None:
        entries = lock_entries(lock)
        for extra in extras:
            for requirement in project_requirements(extra=extra):
                name = canonicalize_name(requirement.name)
                assert name in entries, f"{name} is missing from {lock.name}: {RELOCK}"
                version = pinned_version(entries[name][0])
                assert requirement.specifier.contains(version, prereleases=True), (
                    f"{lock.name} pins {name}=={version} outside {requirement}: {RELOCK}"
                )

    def test_the_image_runs_the_versions_the_tests_ran(self) -> None:
        dev = lock_entries(DEV_LOCK)
        for name, (requirement, hashes) in lock_entries(RUNTIME_LOCK).items():
            assert name in dev, f"{name} is in runtime.txt only: {RELOCK}"
            assert pinned_version(requirement) == pinned_version(dev[name][0]), name
            assert set(hashes) == set(dev[name][1]), name


class TestInstallsUseTheLock:
    def test_make_installs_the_dev_lock_then_simreg_alone(self) -> None:
        makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
        assert "DEV_LOCK     := requirements/dev.txt" in makefile
        assert "install -q --require-hashes -r $(DEV_LOCK)" in makefile

    def test_the_image_installs_the_runtime_lock_then_simreg_alone(self) -> None:
        dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
        assert "pip install --require-hashes -r requirements/runtime.txt" in dockerfile
        assert "pip install --no-deps -e ." in dockerfile
        ignore = (ROOT / "deploy" / "Dockerfile.dockerignore").read_text(encoding="utf-8")
        assert "!requirements/runtime.txt" in ignore.splitlines()
