"""deploy/.env.example documents every setting: it is what `simreg settings env-example` prints
from the Settings class, and it loads back to the defaults."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli, render_env_example
from app.config import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / "deploy" / ".env.example"
REGENERATE = "simreg settings env-example > deploy/.env.example"
PRODUCTION_SECRETS = {
    "SIMREG_JWT_SECRET",
    "SIMREG_PD_KEYS",
    "SIMREG_PD_HASH_KEY",
    "SIMREG_CURSOR_SECRET",
    "SIMREG_PORTAL_SIGNING_SECRET",
    "SIMREG_SESSION_SECRET",
}


def _assignments(text: str) -> dict[str, str]:
    """`NAME=value` lines, commented out or not, by name."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.removeprefix("#").partition("=")
        if sep and name.startswith("SIMREG_"):
            found[name] = value
    return found


class TestEnvExampleIsCurrent:
    def test_the_committed_file_is_what_the_command_prints(self) -> None:
        generated = render_env_example()
        committed = ENV_EXAMPLE.read_text(encoding="utf-8")
        if committed != generated:
            diff = "".join(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    generated.splitlines(keepends=True),
                    "deploy/.env.example (committed)",
                    "simreg settings env-example",
                )
            )
            pytest.fail(
                "deploy/.env.example is out of date with app/config.py; regenerate it with\n"
                f"    {REGENERATE}\n{diff}"
            )

    def test_the_command_prints_the_same_text(self) -> None:
        result = CliRunner().invoke(cli, ["settings", "env-example"])
        assert result.exit_code == 0, result.output
        assert result.stdout == render_env_example()


class TestEnvExampleCoversEverySetting:
    def test_every_field_appears_once_with_a_comment(self) -> None:
        text = render_env_example()
        lines = text.splitlines()
        expected = {f"SIMREG_{name.upper()}" for name in Settings.model_fields}
        assert set(_assignments(text)) == expected
        for index, line in enumerate(lines):
            if line.removeprefix("#").split("=", 1)[0] in expected:
                assert lines[index - 1].startswith("# "), f"{line} has no comment above it"

    def test_the_secrets_production_refuses_are_marked(self) -> None:
        lines = render_env_example().splitlines()
        marked = {
            lines[index + 1].split("=", 1)[0]
            for index, line in enumerate(lines)
            if "Required in production" in line
        }
        assert marked >= PRODUCTION_SECRETS

    def test_lists_are_json_and_unset_values_are_commented_out(self) -> None:
        assignments = _assignments(render_env_example())
        assert assignments["SIMREG_DEADLINE_FLAG_DAYS"] == "[30,14,7,3,1]"
        assert "#SIMREG_NOW=" in render_env_example().splitlines()
        assert assignments["SIMREG_SCHEDULER_IN_PROCESS"] == "true"

    def test_the_file_loads_back_to_the_defaults(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        for name in list(os.environ):
            if name.startswith("SIMREG_"):
                monkeypatch.delenv(name)
        env_file = tmp_path / ".env"
        env_file.write_text(render_env_example(), encoding="utf-8")
        assert Settings(_env_file=env_file) == Settings(_env_file=None)
