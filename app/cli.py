"""The `simreg` command: serve, migrate, demo, and operations on the registry."""

from __future__ import annotations

import typer

from app.config import get_settings

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
    """Serve the API and print where, with a ready demo token per role outside production."""
    import uvicorn

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    base = f"http://{host}:{port}"
    typer.echo(f"simreg API:      {base}/api/v1")
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
    )


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    """Entry point of the console script."""
    cli()
