"""A worker process that dies at a named checkpoint, as a killed process would (os._exit)."""

from __future__ import annotations

import datetime as dt
import os
import sys

from app.config import Environment, Settings
from app.core.clock import FixedClock
from app.core.runtime import Runtime
from app.uploads import checkpoints
from app.uploads.worker import process_upload


def main() -> None:
    database_url, upload_dir, upload_id, checkpoint, batch_rows = sys.argv[1:6]
    settings = Settings(  # type: ignore[call-arg]
        env=Environment.TEST,
        database_url=database_url,
        upload_dir=upload_dir,
        upload_batch_rows=int(batch_rows),
        _env_file=None,
    )

    def die(name: str) -> None:
        if name == checkpoint:
            os._exit(137)

    checkpoints.hook = die
    runtime = Runtime.build(settings, clock=FixedClock(dt.datetime(2026, 11, 23, 7, tzinfo=dt.UTC)))
    process_upload(runtime, int(upload_id))
    os._exit(0)


if __name__ == "__main__":
    main()
