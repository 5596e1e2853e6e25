"""Named points in an upload's processing where a test may stop the process, as a crash
would: `hook` is called with each point's name as processing reaches it."""

from __future__ import annotations

from collections.abc import Callable

hook: Callable[[str], None] | None = None


def reach(name: str) -> None:
    """Processing is at the point `name`."""
    if hook is not None:
        hook(name)
