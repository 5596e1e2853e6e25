"""The job scheduler: one claim row per job and tick, so a tick runs once however many run."""
