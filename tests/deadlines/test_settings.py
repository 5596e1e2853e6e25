"""Deadline settings that cannot work are refused at start, naming the setting."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("[14,30,7]", "not strictly descending"),
        ("[30,14,14,7]", "not strictly descending"),
        ("[30,0]", "1 day or more"),
        ("[]", "is empty"),
    ],
)
def test_thresholds_must_descend(monkeypatch: pytest.MonkeyPatch, value: str, says: str) -> None:
    monkeypatch.setenv("SIMREG_DEADLINE_FLAG_DAYS", value)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "SIMREG_DEADLINE_FLAG_DAYS" in str(refused.value)
    assert says in str(refused.value)


def test_thresholds_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMREG_DEADLINE_FLAG_DAYS", "[45,10,2]")
    assert Settings(_env_file=None).deadline_flag_days == [45, 10, 2]  # type: ignore[call-arg]


def test_an_unknown_person_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMREG_NOTIFY_PERSON_CHANNEL", "pigeon")
    with pytest.raises(ValidationError, match="SIMREG_NOTIFY_PERSON_CHANNEL"):
        Settings(_env_file=None)  # type: ignore[call-arg]
