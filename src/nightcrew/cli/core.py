"""Core commands: init, db, serve, worker, demo, trace, tenants, keys, review."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nightcrew.cli.common import (
    TenantOption,
    app,
    console,
    db_app,
    err,
    fail,
    keys_app,
    prepare,
    require_schema,
    review_app,
    settings_or_exit,
    tenants_app,
)
from nightcrew.errors import NightcrewError


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to write the playbook.")] = Path("nightcrew"),
) -> None:
    """Write the sample playbook (commented YAML) and its templates to DIRECTORY."""
    from nightcrew.playbook.loader import SAMPLE_DIR

    target = directory / "playbook.yaml"
    if target.exists():
        err.print(f"[red]error:[/red] {target} already exists; not overwriting it")
        raise typer.Exit(1)
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLE_DIR / "playbook.yaml", target)
    shutil.copytree(SAMPLE_DIR / "templates", directory / "templates", dirs_exist_ok=True)
    console.print(f"Wrote {target} and {directory / 'templates'}/")
    console.print(f"Next: export NIGHTCREW_PLAYBOOK={target.resolve()}")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Create or migrate the database schema (NIGHTCREW_DATABASE_URL)."""
    from nightcrew.migrations import current_revision, upgrade

    settings = settings_or_exit()
    upgrade(settings.database_url, revision)
    console.print(f"database at revision {current_revision(settings.database_url)}")


def _warm_models() -> None:
    """Train the bundled intent model in the background (a few seconds), so the first inbound message does not wait."""
    import threading

    def warm() -> None:
        from nightcrew.intelligence.intents import default_intent_model

        default_intent_model()

    threading.Thread(target=warm, name="warm-intent-model", daemon=True).start()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    api_only: Annotated[
        bool, typer.Option(help="Only accept requests and enqueue work; `nightcrew worker` processes run it.")
    ] = False,
) -> None:
    """Run the HTTP API and a worker in one process (or, with --api-only, the API behind a load balancer)."""
    import uvicorn

    from nightcrew.api.app import create_app

    settings = settings_or_exit()
    if settings.api_key is None:
        err.print("[red]error:[/red] set NIGHTCREW_API_KEY: the API refuses to run without authentication")
        raise typer.Exit(2)
    try:
        container = prepare(settings)
    except NightcrewError as exc:
        raise fail(exc) from exc
    if not api_only:
        _warm_models()
    uvicorn.run(
        create_app(settings, container=container, start_worker=not api_only, owned_runtime=True),
        host=host,
        port=port,
        log_level="warning",
        # uvicorn's own handlers would print plain, unredacted lines: its loggers go through ours instead.
        log_config=None,
    )


@app.command()
def worker(
    executor_id: Annotated[str | None, typer.Option(help="Unique, stable id of this worker process.")] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, help="Serve this worker's Prometheus /metrics on this port (NIGHTCREW_METRICS_PORT)."
        ),
    ] = None,
) -> None:
    """Run a worker: consume the queues and recover this executor's unfinished workflows."""
    import signal
    import threading

    from nightcrew.workflows import runtime

    settings = settings_or_exit()
    if executor_id:
        settings = settings.model_copy(update={"executor_id": executor_id})
    if metrics_port:
        settings = settings.model_copy(update={"metrics_port": metrics_port})
    try:
        container = prepare(settings)
    except NightcrewError as exc:
        raise fail(exc) from exc
    # Before launching: a port already taken stops the worker before it claims any work.
    stop_metrics = _worker_metrics(container, settings.metrics_port) if settings.metrics_port else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        runtime.launch(container, supervise=True)
    except NightcrewError as exc:
        runtime.shutdown()
        raise fail(exc) from exc
    _warm_models()
    err.print(f"worker {settings.executor_id} running on {settings.database_url.split('@')[-1]}")
    try:
        stop.wait()
    finally:
        if stop_metrics is not None:
            stop_metrics()
        runtime.shutdown()
        container.close()


def _worker_metrics(container: Any, port: int) -> Callable[[], None]:
    """Serve the worker's counters (and fresh gauges) for Prometheus; an API-only process never sees them."""
    from nightcrew.db import transaction
    from nightcrew.observe.health import refresh_gauges
    from nightcrew.observe.metrics import serve_metrics

    def refresh() -> None:
        with transaction(container.sessions) as session:
            refresh_gauges(container, session, container.clock.now())

    try:
        stop = serve_metrics(port, refresh=refresh)
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot serve metrics on port {port}: {exc.strerror or exc}")
        raise typer.Exit(1) from exc
    err.print(f"metrics on http://0.0.0.0:{port}/metrics")
    return stop


@app.command()
def demo(
    leads: Annotated[int, typer.Option(min=1, help="How many leads arrive during the period.")] = 100,
    days: Annotated[int, typer.Option(min=1, help="How many days to simulate.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same month.")] = 7,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON here.")] = None,
    database: Annotated[str, typer.Option(help="Database for the demo (recreated).")] = "sqlite:///./nightcrew-demo.db",
    outbox: Annotated[Path, typer.Option(help="Where the demo's sent messages go.")] = Path(
        "./nightcrew-demo-outbox.jsonl"
    ),
    playbook: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Use this playbook's tiers (default: the sample). A capable tier with a network endpoint is "
            "called as configured; a local-only one runs against the simulated endpoint.",
        ),
    ] = None,
    outage_day: Annotated[
        float, typer.Option(min=0.0, help="The simulated provider goes down this many days after the start.")
    ] = 9.4,
    outage_hours: Annotated[float, typer.Option(min=0.0, help="How long the simulated outage lasts.")] = 10.0,
) -> None:
    """Simulate a month of the sample business through the real workflows and print a report."""
    from nightcrew.simulate.month import DemoOptions, run
    from nightcrew.simulate.render import render_report

    options = DemoOptions(
        leads=leads,
        days=days,
        seed=seed,
        database_url=database,
        outbox_path=outbox,
        playbook=playbook.resolve() if playbook else None,
        outage_day=outage_day,
        outage_hours=outage_hours,
    )
    with Progress(
        TextColumn("[bold]simulating[/bold] {task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=1.0)
        try:
            result = run(options, progress=lambda done, label: bar.update(task, completed=done, description=label))
        except NightcrewError as exc:  # a playbook that does not load, say
            raise fail(exc) from exc
    render_report(console, result)
    if json_path:
        json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
        console.print(f"report written to {json_path}")


@app.command()
def trace(
    external_id: Annotated[str, typer.Argument(help="The contact's id in the CRM.")],
    tenant: Annotated[str | None, typer.Option(help="Tenant slug (default: the default tenant).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Print a contact's timeline: events, decisions with their reasons, messages."""
    from nightcrew.bootstrap import build_container
    from nightcrew.db import transaction
    from nightcrew.observe.service import AuditQueries

    settings = settings_or_exit()
    require_schema(settings)
    container = build_container(settings)
    try:
        ref = container.tenant(tenant or settings.default_tenant)
        with transaction(container.sessions) as session:
            timeline = AuditQueries().timeline(session, ref.id, external_id)
    except NightcrewError as exc:
        raise fail(exc) from exc
    finally:
        container.close()
    if as_json:
        console.print_json(json.dumps(timeline, ensure_ascii=False))
        return
    contact = timeline["contact"]
    console.print(
        f"[bold]{contact['external_id']}[/bold] {contact.get('name') or ''} stage={contact['stage']} "
        f"segment={contact.get('segment')} language={contact.get('language')}"
    )
    table = Table(show_lines=False)
    for column in ("at", "what", "detail", "reason", "confidence", "model", "trace"):
        table.add_column(column, overflow="fold")
    for item in timeline["items"]:
        if item["type"] == "action":
            a = item["action"]
            conf = f"{a['confidence']:.2f}" if a["confidence"] is not None else ""
            table.add_row(
                item["at"][:19],
                a["kind"],
                _summary(a["output"]),
                a["reason"],
                conf,
                a["model"] or "",
                (a["trace_id"] or "")[:8],
            )
        elif item["type"] == "event":
            e = item["event"]
            table.add_row(
                item["at"][:19], f"event {e['type']}", e["id"], e["status"], "", "", (e["trace_id"] or "")[:8]
            )
        elif item["type"] == "message":
            m = item["message"]
            delivered = f" ({m['delivery_status']})" if m.get("delivery_status") else ""
            table.add_row(
                item["at"][:19],
                f"message {m['status']}{delivered}",
                m["body"][:80],
                f"{m['channel']} {m['language']}",
                "",
                m["plan"] or "",
                "",
            )
        elif item["type"] == "crm":
            h = item["crm"]
            table.add_row(item["at"][:19], f"{h['source']} {h['kind']}", h["body"][:80], "from the CRM", "", "", "")
        else:
            s = item["stage"]
            table.add_row(item["at"][:19], "stage", f"{s['from']} -> {s['to']}", s["reason"], "", "", "")
    console.print(table)


@tenants_app.command("create")
def tenants_create(
    slug: Annotated[str, typer.Argument(help="Short name used in URLs and workflow ids, e.g. 'bogota'.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    playbook: Annotated[Path | None, typer.Option(help="This tenant's playbook file.")] = None,
    setting: Annotated[
        list[str] | None,
        typer.Option(
            help="KEY=VALUE, e.g. crm=hubspot or hubspot_token_env=ACME_HUBSPOT_TOKEN (secrets are only "
            "ever named by their environment variable).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create a tenant (or update its playbook path and settings) and sync its pipeline."""
    import re

    if not re.match(r"^[a-z0-9][a-z0-9-]{0,62}$", slug):
        err.print("[red]error:[/red] a tenant slug is 1-63 lowercase letters, digits or dashes")
        raise typer.Exit(2)
    container = prepare(settings_or_exit())
    values: dict[str, Any] = {}
    for item in setting or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            err.print(f"[red]error:[/red] --setting {item!r}: write KEY=VALUE")
            raise typer.Exit(2)
        values[key.strip()] = [v for v in value.split(",") if v] if key.strip().endswith("secrets_env") else value
    try:
        ref = container.ensure_tenant(slug, name, playbook.resolve() if playbook else None, values or None)
    except NightcrewError as exc:
        raise fail(exc) from exc
    finally:
        container.close()
    console.print(f"tenant {ref.slug} (#{ref.id}) ready; playbook: {ref.playbook_path or 'default'}")


@tenants_app.command("list")
def tenants_list() -> None:
    """List tenants."""
    from nightcrew.bootstrap import build_container
    from nightcrew.crm.repository import TenantRepository
    from nightcrew.db import transaction

    settings = settings_or_exit()
    require_schema(settings)
    container = build_container(settings)
    table = Table("id", "slug", "name", "playbook")
    with transaction(container.sessions) as session:
        for row in TenantRepository(session).all():
            table.add_row(str(row.id), row.slug, row.name, row.playbook_path or "default")
    container.close()
    console.print(table)


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
    scope: Annotated[list[str], typer.Option(help="events:write, read, review or admin (repeatable).")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "api",
) -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    from nightcrew.bootstrap import build_container
    from nightcrew.crm.keys import issue_key
    from nightcrew.db import transaction

    settings = settings_or_exit()
    require_schema(settings)
    container = build_container(settings)
    try:
        ref = container.tenant(tenant)
        with transaction(container.sessions) as session:
            issued = issue_key(session, ref.id, name, scope, container.clock.now())
    except NightcrewError as exc:
        raise fail(exc) from exc
    finally:
        container.close()
    console.print(f"key #{issued.id} for {tenant} with scopes {', '.join(issued.scopes)}:")
    console.print(issued.secret, soft_wrap=True)
    err.print("store it now: it cannot be shown again")


@keys_app.command("list")
def keys_list(tenant: Annotated[str, typer.Option(help="Tenant slug.")]) -> None:
    """List a tenant's keys (prefixes only)."""
    from nightcrew.bootstrap import build_container
    from nightcrew.crm.repository import ApiKeyRepository
    from nightcrew.db import transaction

    settings = settings_or_exit()
    require_schema(settings)
    container = build_container(settings)
    try:
        ref = container.tenant(tenant)
        table = Table("id", "name", "prefix", "scopes", "created", "last used", "revoked")
        with transaction(container.sessions) as session:
            for key in ApiKeyRepository(session).for_tenant(ref.id):
                table.add_row(
                    str(key.id),
                    key.name,
                    key.prefix + "…",
                    ",".join(key.scopes),
                    key.created_at.isoformat()[:19],
                    key.last_used_at.isoformat()[:19] if key.last_used_at else "",
                    key.revoked_at.isoformat()[:19] if key.revoked_at else "",
                )
    except NightcrewError as exc:
        raise fail(exc) from exc
    finally:
        container.close()
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id (from keys list).")],
    tenant: Annotated[str, typer.Option(help="Tenant slug.")],
) -> None:
    """Revoke a key at once."""
    from nightcrew.bootstrap import build_container
    from nightcrew.crm.keys import revoke_key
    from nightcrew.db import transaction

    settings = settings_or_exit()
    require_schema(settings)
    container = build_container(settings)
    try:
        ref = container.tenant(tenant)
        with transaction(container.sessions) as session:
            revoke_key(session, ref.id, key_id, container.clock.now())
    except NightcrewError as exc:
        raise fail(exc) from exc
    finally:
        container.close()
    console.print(f"key #{key_id} revoked")


def _review_item_table(items: list[dict[str, Any]]) -> Table:
    table = Table("id", "status", "kind", "deadline", "reasons", "draft")
    for item in items:
        table.add_row(
            str(item["id"]),
            item["status"],
            item["kind"],
            item["deadline"][:16],
            "; ".join(item["reasons"])[:120],
            (item["draft"] or "")[:80],
        )
    return table


@review_app.command("list")
def review_list(
    tenant: TenantOption = None,
    status: Annotated[str, typer.Option(help="open, approved, rejected or all.")] = "open",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Items waiting for a person, nearest deadline first."""
    from nightcrew.bootstrap import build_container
    from nightcrew.db import transaction
    from nightcrew.review.repository import ReviewRepository
    from nightcrew.review.service import item_dict

    settings = settings_or_exit()
    require_schema(settings)
    container = build_container(settings)
    try:
        ref = container.tenant(tenant or settings.default_tenant)
        with transaction(container.sessions) as session:
            rows = ReviewRepository(session, ref.id).list(None if status == "all" else status, limit=500, offset=0)
            items = [item_dict(i) for i in rows]
    except NightcrewError as exc:
        raise fail(exc) from exc
    finally:
        container.close()
    if as_json:
        console.print_json(json.dumps(items, ensure_ascii=False))
    else:
        console.print(_review_item_table(items))


@review_app.command("show")
def review_show(item_id: Annotated[int, typer.Argument()], tenant: TenantOption = None) -> None:
    """One item: draft, reasons, context."""
    from nightcrew.bootstrap import build_container
    from nightcrew.db import transaction
    from nightcrew.errors import NotFound
    from nightcrew.review.repository import ReviewRepository
    from nightcrew.review.service import item_dict

    settings = settings_or_exit()
    require_schema(settings)
    container = build_container(settings)
    try:
        ref = container.tenant(tenant or settings.default_tenant)
        with transaction(container.sessions) as session:
            item = ReviewRepository(session, ref.id).get(item_id)
            if item is None:
                raise NotFound(f"review item #{item_id} not found")
            data = item_dict(item)
    except NightcrewError as exc:
        raise fail(exc) from exc
    finally:
        container.close()
    console.print_json(json.dumps(data, ensure_ascii=False))


def _decide(tenant: str | None, action: Any) -> dict[str, Any]:
    """Run a review decision with DBOS up, so an approved message is sent by its durable workflow."""
    from nightcrew.workflows import runtime

    settings = settings_or_exit()
    container = prepare(settings)
    runtime.launch(container, schedule_sweeps=False)
    try:
        ref = container.tenant(tenant or settings.default_tenant)
        result: dict[str, Any] = action(container, ref)
        return result
    except NightcrewError as exc:
        raise fail(exc) from exc
    finally:
        runtime.shutdown()
        container.close()


@review_app.command("approve")
def review_approve(
    item_id: Annotated[int, typer.Argument()],
    tenant: TenantOption = None,
    text: Annotated[str | None, typer.Option(help="Send this text instead (it is re-checked).")] = None,
    segment: Annotated[str | None, typer.Option(help="The right segment (stored as a training label).")] = None,
    intent: Annotated[str | None, typer.Option(help="The right intent (stored as a training label).")] = None,
    note: Annotated[str | None, typer.Option(help="Why.")] = None,
    reviewer: Annotated[str, typer.Option(help="Who decides.")] = "cli",
) -> None:
    """Approve an item; its message is sent once (or at the first allowed minute)."""
    from nightcrew.workflows.review import approve_item, wait_for_review_send

    correction = {k: v for k, v in (("segment", segment), ("intent", intent)) if v}

    def act(container: Any, ref: Any) -> dict[str, Any]:
        result = approve_item(container, ref, item_id, reviewer=reviewer, text=text, correction=correction, note=note)
        if result["message_status"] == "pending":
            wait_for_review_send(item_id)
            result["message_status"] = "sent"
        return result

    result = _decide(tenant, act)
    console.print(f"item #{item_id} approved; message {result['message_status']}")


@review_app.command("reject")
def review_reject(
    item_id: Annotated[int, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why it must not be sent.")],
    tenant: TenantOption = None,
    segment: Annotated[str | None, typer.Option(help="The right segment (stored as a training label).")] = None,
    intent: Annotated[str | None, typer.Option(help="The right intent (stored as a training label).")] = None,
    reviewer: Annotated[str, typer.Option(help="Who decides.")] = "cli",
) -> None:
    """Reject an item: its draft is never sent."""
    from nightcrew.workflows.review import reject_item

    correction = {k: v for k, v in (("segment", segment), ("intent", intent)) if v}
    _decide(
        tenant, lambda c, ref: reject_item(c, ref, item_id, reviewer=reviewer, reason=reason, correction=correction)
    )
    console.print(f"item #{item_id} rejected")


def _summary(output: dict[str, Any]) -> str:
    keys = ("segment", "verdict", "plan", "status", "due_at", "created", "to")
    parts = [f"{k}={output[k]}" for k in keys if k in output]
    return ", ".join(parts) or json.dumps(output, ensure_ascii=False)[:80]
