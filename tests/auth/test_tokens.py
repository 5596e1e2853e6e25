"""Verified tokens are remembered until they expire: the same token is not checked twice, and
an expired one is refused even after it was once accepted."""

from __future__ import annotations

import datetime as dt
import time

import jwt
import pytest

from app.auth.service import Principal, Role, TokenService
from app.config import Settings
from app.core.errors import Unauthorized


def _mint(tokens: TokenService, *, seconds: float) -> str:
    return tokens.mint(
        Principal(Role.PERSON, "person-1"),
        now=dt.datetime.now(dt.UTC),
        ttl=dt.timedelta(seconds=seconds),
    )


class TestVerifiedTokens:
    def test_a_token_verified_once_is_not_decoded_again(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        tokens = TokenService(settings)
        token = _mint(tokens, seconds=600)
        decoded: list[str] = []
        real_decode = jwt.decode

        def counting_decode(*args: object, **kwargs: object) -> object:
            decoded.append("once")
            return real_decode(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(jwt, "decode", counting_decode)

        first = tokens.verify(token)
        again = tokens.verify(token)

        assert first == again == Principal(Role.PERSON, "person-1")
        assert decoded == ["once"]

    def test_a_remembered_token_is_refused_once_it_has_expired(self, settings: Settings) -> None:
        tokens = TokenService(settings)
        token = _mint(tokens, seconds=1)
        assert tokens.verify(token).subject == "person-1"

        time.sleep(1.2)

        with pytest.raises(Unauthorized, match="expired"):
            tokens.verify(token)

    def test_a_bad_token_is_never_remembered(self, settings: Settings) -> None:
        tokens = TokenService(settings)
        forged = _mint(tokens, seconds=600)[:-4] + "AAAA"
        for _ in range(2):
            with pytest.raises(Unauthorized):
                tokens.verify(forged)
