"""The `simreg` command: serve, migrate, demo, and operations on the registry."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from app.benchmarks.commands import bench
from app.config import get_settings

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

    from app.core.runtime import Runtime

cli = typer.Typer(
    help="simreg: registry of the end users of corporate SIM cards.", no_args_is_help=True
)


@cli.command()
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    from app.db.migrations import upgrade_to_head

    settings = get_settings()
    upgrade_to_head(settings.database_url)
    typer.echo(f"database migrated: {_safe_url(settings.database_url)}")


@cli.command()
def demo(
    if_empty: bool = typer.Option(False, "--if-empty", help="Only when the database is empty."),
) -> None:
    """Load demo operators, companies, people and numbers in every status."""
    from app.core.runtime import Runtime
    from app.demo import load_demo, registry_is_empty

    runtime = Runtime.build(get_settings())
    if if_empty and not registry_is_empty(runtime):
        typer.echo("demo data: the database holds data already; left as it is")
        return
    summary = load_demo(runtime)
    typer.echo("demo data loaded: " + ", ".join(f"{k}={v}" for k, v in summary.items()))


@cli.command()
def serve(
    host: str | None = typer.Option(None, help="Default: SIMREG_HOST"),
    port: int | None = typer.Option(None, help="Default: SIMREG_PORT"),
    workers: int = typer.Option(1, help="Worker processes"),
) -> None:
    """Serve the pages and the API and print where: the sign-in page first, then the API and,
    outside production, a ready demo token per role."""
    import uvicorn

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    base = f"http://{host}:{port}"
    typer.echo(f"sign in:         {base}/sign-in")
    typer.echo(f"simreg API:      {base}/api/v1")
    if settings.api_docs:
        typer.echo(f"API docs:        {base}/docs")
    if settings.is_sandbox:
        typer.echo("demo tokens (one per role; send as 'Authorization: Bearer <token>'):")
        for role in ("company_admin", "person", "operator_system", "operator_staff"):
            typer.echo(f"  {role:<16} {base}/api/v1/sandbox/demo-tokens/{role}")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        # The app believes X-Forwarded-For only from SIMREG_TRUSTED_PROXIES; uvicorn's own
        # handling would believe it from any caller on 127.0.0.1 (FORWARDED_ALLOW_IPS).
        proxy_headers=False,
        server_header=False,
    )


@cli.command("import")
def import_file(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or XLSX list"),
    company: int = typer.Option(..., "--company", help="Company (corporate subscriber) id"),
    mode: str = typer.Option("apply", help="validate (dry run) or apply"),
    idempotency_key: str | None = typer.Option(
        None, help="Same key within 24 hours, same upload (replayed, not checked again)"
    ),
) -> None:
    """Upload a list from the command line, with a progress bar; the twin of the upload API.
    The same file sent again is checked again against the registry as it is now."""
    from rich.progress import Progress

    from app.core.runtime import Runtime
    from app.uploads import intake
    from app.uploads.models import Upload, UploadStatus
    from app.uploads.worker import process_upload

    runtime = Runtime.build(get_settings())
    upload_id, created = _receive(runtime, path, company, mode, idempotency_key)
    if not created:
        typer.echo(f"this Idempotency-Key was used within 24 hours: upload {upload_id}")
    else:
        with runtime.sessions() as session:
            earlier = intake.seen_before(session, session.get_one(Upload, upload_id))
            if earlier is not None:
                typer.echo(
                    f"the same file was uploaded before (upload {earlier.id}, "
                    f"{earlier.created_at:%Y-%m-%d %H:%M} UTC); checking it again"
                )
    with Progress() as bar:
        task = bar.add_task(f"upload {upload_id}", total=None)

        def show(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        result = process_upload(runtime, upload_id, progress=show)
    if result is None:
        typer.echo(f"upload {upload_id} is being processed by another worker")
        raise typer.Exit(1)
    typer.echo(
        f"upload {result.id}: {result.status.value}; rows {result.rows_read}, "
        f"accepted {result.accepted}, rejected {result.rejected}, created {result.created}, "
        f"unchanged {result.unchanged}, superseded {result.superseded}"
    )
    if result.failure_message:
        typer.echo(f"  {result.failure_code}: {result.failure_message}")  # in Russian
    with runtime.sessions() as session:
        for error in intake.first_errors(session, upload=result, limit=10):
            typer.echo(f"  row {error['row']}: {error['message']}")
    if result.status is UploadStatus.FAILED:
        raise typer.Exit(2)


def _receive(
    runtime: Runtime, path: Path, company: int, mode: str, idempotency_key: str | None
) -> tuple[int, bool]:
    """The file copied into the upload directory and recorded as an upload: (its id, whether
    it is new), as the upload API receives it."""
    import shutil
    import tempfile

    from app.core.actors import Actor, ActorKind
    from app.db.session import unit_of_work
    from app.uploads import intake
    from app.uploads.models import UploadMode

    upload_dir = Path(runtime.settings.upload_dir)
    upload_dir.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.NamedTemporaryFile(dir=upload_dir, prefix="incoming-", delete=False) as copy,
        path.open("rb") as source,
    ):
        shutil.copyfileobj(source, copy)
    received = intake.ReceivedFile(
        path=Path(copy.name),
        filename=path.name,
        size=path.stat().st_size,
        sha256=intake.file_sha256(path),
    )
    try:
        with unit_of_work(runtime.sessions) as session:
            upload, created = intake.receive_upload(
                session,
                subscriber_id=company,
                received=received,
                mode=UploadMode(mode),
                idempotency_key=idempotency_key,
                actor=Actor(ActorKind.COMPANY_ADMIN, "cli"),
                upload_dir=upload_dir,
                now=runtime.clock.now(),
            )
            return upload.id, created
    finally:
        received.path.unlink(missing_ok=True)  # moved in for a new upload, else still here


@cli.command("resume-uploads")
def resume_uploads() -> None:
    """Finish uploads left unfinished by a worker that died."""
    from app.core.runtime import Runtime
    from app.uploads import intake
    from app.uploads.worker import run_upload

    runtime = Runtime.build(get_settings())
    with runtime.sessions() as session:
        pending = intake.stale_uploads(session, now=runtime.clock.now())
    for upload_id in pending:
        result = run_upload(runtime, upload_id)  # one file that kills its worker stops no other
        typer.echo(f"upload {upload_id}: {result.status.value if result else 'held elsewhere'}")


@cli.command()
def match(
    operator: int | None = typer.Option(None, help="Only this operator's numbers"),
) -> None:
    """Run the matching cycle now: portal answers in, devices, requests, answers, expiry, and
    new requests out to the portal."""
    from app.core.runtime import Runtime
    from app.matching.jobs import matching_cycle

    runtime = Runtime.build(get_settings())
    report = matching_cycle(runtime, operator_id=operator)
    typer.echo("matching: " + ", ".join(f"{k}={v}" for k, v in report.items()))


@cli.command()
def scheduler() -> None:
    """Run the scheduled jobs in this process (production: one or more scheduler processes,
    with SIMREG_SCHEDULER_IN_PROCESS=false on the API instances). Every tick runs once."""
    import signal

    from app.core.runtime import Runtime
    from app.scheduler.runner import build_scheduler

    settings = get_settings()
    runtime = Runtime.build(settings)
    scheduler_ = build_scheduler(runtime, blocking=True)
    if settings.scheduler_metrics_port:
        from prometheus_client import start_http_server

        # This process serves no API: its job metrics and gauges get a port of their own.
        start_http_server(settings.scheduler_metrics_port, addr=settings.host)
        typer.echo(f"metrics:   http://{settings.host}:{settings.scheduler_metrics_port}/metrics")

    def stop(*_: object) -> None:
        scheduler_.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    for job in scheduler_.get_jobs():
        typer.echo(f"scheduled: {job.id:<14} every {job.trigger.interval_length:.0f} s")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler_.start()
    runtime.engine.dispose()


jobs = typer.Typer(help="Scheduled jobs: list them, or run one now.", no_args_is_help=True)
cli.add_typer(jobs, name="jobs")


@jobs.command("list")
def jobs_list() -> None:
    """Every job, its interval and its latest run."""
    from app.core.runtime import Runtime
    from app.scheduler.service import job_statuses

    runtime = Runtime.build(get_settings())
    for status in job_statuses(runtime):
        last = (
            f"last {status.last_outcome or 'running'} at {status.last_started_at:%Y-%m-%d %H:%M:%S}"
            if status.last_started_at
            else "never ran"
        )
        typer.echo(f"{status.name:<14} every {status.interval_seconds:>5} s  {last}")
        typer.echo(f"{'':<14} {status.description}")


@jobs.command("run")
def jobs_run(
    name: str = typer.Argument(..., help="Job name (see `simreg jobs list`)"),
    now: str | None = typer.Option(
        None, help="Run as if it were this moment (dev/test only), e.g. 2026-12-01T00:00:00+03:00"
    ),
) -> None:
    """Run one job now and print what it did."""
    import datetime as dt
    import json

    from app.core.clock import FixedClock
    from app.core.errors import NotFound
    from app.core.messages import word
    from app.core.runtime import Runtime
    from app.scheduler.service import instance_name, run_now

    settings = get_settings()
    clock = None
    if now is not None:
        if not settings.is_sandbox:
            typer.echo("--now is for dev and test; production runs on the wall clock", err=True)
            raise typer.Exit(2)
        at = dt.datetime.fromisoformat(now)
        clock = FixedClock(at if at.tzinfo else at.replace(tzinfo=dt.UTC))
    runtime = Runtime.build(settings, clock=clock)
    try:
        outcome = run_now(runtime, name, claimed_by=f"cli:{instance_name()}")
    except NotFound as exc:
        typer.echo(word(exc.detail), err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        json.dumps(
            {
                "job": name,
                "outcome": outcome.outcome,
                "seconds": outcome.seconds,
                **(outcome.summary or {}),
            },
            ensure_ascii=False,
            default=str,
        )
    )
    if outcome.outcome != "ok":
        raise typer.Exit(1)


settings_app = typer.Typer(help="Settings: the SIMREG_* variables and their defaults.")
cli.add_typer(settings_app, name="settings")


@settings_app.command("env-example")
def settings_env_example() -> None:
    """Print an .env.example with every setting at its default (deploy/.env.example)."""
    typer.echo(render_env_example(), nl=False)


def render_env_example() -> str:
    """Every field of Settings as `SIMREG_<NAME>=<default>` under a comment that explains it.

    Built from the class, not from this process's environment, so the output is the same
    everywhere; lists are JSON and None is empty, as the settings loader reads them back."""
    from app.config import Settings

    required = _required_in_production()
    prefix = str(Settings.model_config.get("env_prefix", ""))
    lines = [
        "# simreg settings, every one at its default; generated from app/config.py by",
        "#   simreg settings env-example > deploy/.env.example",
        "# Copy to .env (or /etc/simreg/simreg.env) and set what differs.",
    ]
    for name, field in Settings.model_fields.items():
        variable = f"{prefix}{name}".upper()
        comment = field.description or _describe_field(name, field)
        comment = " ".join(comment.split())
        if variable in required:
            comment += " Required in production: the development default is refused."
        default = field.get_default(call_default_factory=True)
        # An empty value is read as "" rather than None (and refused for a date), so a setting
        # that is unset by default stays commented out until it is given a value.
        assignment = f"{variable}={_env_value(default)}"
        lines += ["", f"# {comment}", assignment if default is not None else f"#{assignment}"]
    return "\n".join(lines) + "\n"


def _required_in_production() -> set[str]:
    """The variables production refuses to keep at their development default, as named by
    the Settings check itself (so a secret added there is marked here too)."""
    import re

    from pydantic import ValidationError
    from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

    from app.config import Environment, Settings

    class DefaultsOnly(Settings):
        """Settings that ignore the environment and any .env file: only what is passed."""

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings,)

    try:
        DefaultsOnly(env=Environment.PRODUCTION)
    except ValidationError as exc:
        messages = " ".join(str(error["msg"]) for error in exc.errors())
        return set(re.findall(r"SIMREG_[A-Z0-9_]+", messages))
    return set()


def _describe_field(name: str, field: FieldInfo) -> str:
    """A reading of a field's type and bounds, for settings without a description."""
    import datetime as dt
    import enum
    import typing

    annotation = field.annotation
    args = typing.get_args(annotation)
    present = [a for a in args if a is not type(None)]
    if len(present) == 1 and len(present) < len(args):
        annotation = present[0]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        kind = "one of " + ", ".join(str(member.value) for member in annotation)
    elif annotation is bool:
        kind = "true or false"
    elif annotation is int:
        kind = "a whole number"
    elif annotation is float:
        kind = "a number"
    elif annotation is dt.datetime:
        kind = "an ISO 8601 date and time"
    elif typing.get_origin(annotation) is list:
        kind = "a JSON list"
    else:
        kind = "text"
    bounds = [
        f"{word} {getattr(rule, attr)}"
        for rule in field.metadata
        for attr, word in (("ge", "at least"), ("gt", "above"), ("le", "at most"))
        if getattr(rule, attr, None) is not None
    ]
    return f"{name.replace('_', ' ').capitalize()}: " + ", ".join([kind, *bounds]) + "."


def _env_value(value: object) -> str:
    """A default as the settings loader reads it back from the environment."""
    import enum
    import json

    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


cli.add_typer(bench, name="bench")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    """Entry point of the console script."""
    cli()


if __name__ == "__main__":
    main()
