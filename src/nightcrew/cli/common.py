"""What every command shares: the Typer app, consoles, settings, and opening the container."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console

from nightcrew.config import Settings
from nightcrew.errors import NightcrewError

app = typer.Typer(
    help="nightcrew: the AI operations agent that runs your lead pipeline at 3 a.m.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
tenants_app = typer.Typer(
    help="Tenants: one per business location, each with its own playbook, keys and data.", no_args_is_help=True
)
app.add_typer(tenants_app, name="tenants")
keys_app = typer.Typer(help="API keys (stored hashed, with scopes).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
review_app = typer.Typer(help="The human review queue.", no_args_is_help=True)
app.add_typer(review_app, name="review")
TenantOption = Annotated[str | None, typer.Option(help="Tenant slug (default: the default tenant).")]

console = Console()
err = Console(stderr=True)


def settings_or_exit() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError names the variable and the problem
        err.print(f"[red]invalid settings:[/red] {exc}")
        raise typer.Exit(2) from exc


def fail(exc: NightcrewError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc.message}")
    return typer.Exit(1)


def prepare(settings: Settings) -> Any:
    """Migrate, build the container and make sure the default tenant exists."""
    from nightcrew.bootstrap import build_container
    from nightcrew.migrations import upgrade
    from nightcrew.observe.logging import configure_logging
    from nightcrew.observe.tracing import configure_tracing

    configure_logging(settings.log_level, json_lines=settings.log_json, redact=settings.redact_logs)
    # Before anything opens a span: NIGHTCREW_TRACE_EXPORTER decides where serve's and worker's spans go.
    configure_tracing(settings.trace_exporter, settings.otlp_endpoint)
    upgrade(settings.database_url)
    container = build_container(settings)
    container.ensure_tenant(settings.default_tenant)
    return container


def require_schema(settings: Settings) -> None:
    """Exit with a clear message when the database was never migrated."""
    from nightcrew.migrations import current_revision

    if current_revision(settings.database_url) is None:
        err.print(
            f"[red]error:[/red] the database at {settings.database_url} has no nightcrew schema yet: "
            "run `nightcrew db upgrade`"
        )
        raise typer.Exit(1)


@contextmanager
def opened(tenant: str | None = None) -> Iterator[tuple[Any, Any]]:
    """A container (without migrating or launching anything) and the tenant asked for; errors become exit 1."""
    from nightcrew.bootstrap import build_container

    settings = settings_or_exit()
    require_schema(settings)
    container = build_container(settings)
    try:
        slug = tenant or settings.default_tenant
        # A single-tenant install's one tenant exists from the first command on (serve would create it too).
        yield container, container.ensure_tenant(slug) if slug == settings.default_tenant else container.tenant(slug)
    except NightcrewError as exc:
        raise fail(exc) from exc
    finally:
        container.close()
