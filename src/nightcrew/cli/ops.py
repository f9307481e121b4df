"""Bulk and integration commands: import contacts from CSV, backfill from the CRM."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nightcrew.cli.common import TenantOption, app, console, err, opened
from nightcrew.db import transaction

contacts_app = typer.Typer(help="Contacts in bulk.", no_args_is_help=True)
crm_app = typer.Typer(help="The tenant's CRM (HubSpot or GoHighLevel).", no_args_is_help=True)
app.add_typer(contacts_app, name="contacts")
app.add_typer(crm_app, name="crm")


def _bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


@contacts_app.command("import")
def contacts_import(
    file: Annotated[Path, typer.Argument(help="A CSV export (comma, semicolon or tab separated).")],
    map_: Annotated[
        list[str],
        typer.Option(
            "--map",
            help="CSV_COLUMN=TARGET (external_id, name, email, phone, language, timezone, location or fields.<name>).",
        ),
    ],
    unmapped_as_fields: Annotated[bool, typer.Option(help="Keep other columns as intake fields.")] = True,
    batch: Annotated[int, typer.Option(min=1, max=5000, help="Rows per transaction.")] = 500,
    tenant: TenantOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create or update contacts in batches (no messages are sent); bad rows are reported, good rows kept."""
    from nightcrew.crm.imports import parse_mapping, read_rows

    with opened(tenant) as (container, ref):
        mapping = parse_mapping(map_)
        data = file.read_bytes()
        total_rows = max(0, data.count(b"\n") - 1)
        created = updated = 0
        errors: list[dict[str, Any]] = []
        pending: list[dict[str, Any]] = []
        playbook = container.playbook(ref)

        def flush() -> None:
            nonlocal created, updated
            if not pending:
                return
            with transaction(container.sessions) as session:
                new, changed = container.contacts.bulk_upsert(
                    session, ref.id, pending, now=container.clock.now(), playbook=playbook, source=f"import {file.name}"
                )
            created, updated = created + new, updated + changed
            pending.clear()

        with _bar() as bar:
            task = bar.add_task(f"importing {file.name}", total=total_rows)
            for _row, contact, error in read_rows(data, mapping, unmapped_as_fields=unmapped_as_fields):
                if error is not None:
                    errors.append({"row": error.row, "errors": error.errors})
                elif contact is not None:
                    pending.append(contact)
                if len(pending) >= batch:
                    flush()
                bar.advance(task)
            flush()
    summary = {"created": created, "updated": updated, "rejected": len(errors), "errors": errors[:200]}
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
        return
    console.print(f"{created} created, {updated} updated, {len(errors)} rejected")
    for item in errors[:20]:
        err.print(
            f"[yellow]row {item['row']}:[/yellow] " + "; ".join(f"{e['field']}: {e['reason']}" for e in item["errors"])
        )
    if len(errors) > 20:
        err.print(f"... and {len(errors) - 20} more (use --json for all)")


@crm_app.command("sync")
def crm_sync(
    tenant: TenantOption = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            help="Only contacts changed since (ISO-8601). Run again with the same value to resume an interrupted sync."
        ),
    ] = None,
    page_size: Annotated[int, typer.Option(min=1, max=100)] = 100,
    history: Annotated[
        bool, typer.Option(help="Also keep each contact's CRM history: its notes, and its past stages (HubSpot).")
    ] = True,
) -> None:
    """Backfill contacts and their history from the CRM through its list APIs, page by page; resumable after an
    interruption (a page's contacts and history are stored together, then its cursor)."""
    from nightcrew.crm.repository import ActivityRepository, ContactRepository, ImportErrors, SyncCheckpoints
    from nightcrew.crm.sync import SyncPage, history_activities, sync_contacts

    with opened(tenant) as (container, ref):
        connector = container.crm_connector(ref)
        if connector is None:
            err.print(f"[red]error:[/red] tenant {ref.slug} has no CRM configured (NIGHTCREW_CRM or its crm setting)")
            raise typer.Exit(1)
        crm = container.integrations(ref).crm
        playbook = container.playbook(ref)
        mapping = playbook.crm.for_crm(crm)
        counts = {"created": 0, "updated": 0, "kept_aside": 0, "history": 0}

        def sink(page: SyncPage) -> None:
            now = container.clock.now()
            with transaction(container.sessions) as session:
                new, changed = container.contacts.bulk_upsert(
                    session,
                    ref.id,
                    [event["contact"] for event in page.events],
                    now=now,
                    playbook=playbook,
                    source=f"{crm} sync",
                )
                aside = ImportErrors(session, ref.id)
                for error in page.errors:
                    aside.keep(
                        crm, error.record_id, [{"field": f.field, "reason": f.reason} for f in error.errors], now
                    )
                kept = 0
                if page.notes or page.stages:
                    stored = ContactRepository(session, ref.id).by_external_ids([*page.notes, *page.stages])
                    ids = {external_id: contact.id for external_id, contact in stored.items()}
                    kept = ActivityRepository(session, ref.id).keep_new(
                        history_activities(page, crm, ids, mapping, now)
                    )
            counts["created"] += new
            counts["history"] += kept
            counts["updated"] += changed
            counts["kept_aside"] += len(page.errors)

        with _bar() as bar:
            task = bar.add_task(f"syncing {crm}", total=None)
            result = sync_contacts(
                connector,
                mapping,
                SyncCheckpoints(container.sessions, ref.id, container.clock),
                since,
                lambda done, total: bar.update(task, completed=done, total=total),
                tenant=ref.slug,
                sink=sink,
                page_size=page_size,
                with_notes=history,
                with_stage_history=history,
                clock=container.clock,
            )
    console.print(
        f"{crm}: {counts['created']} created, {counts['updated']} updated, {counts['kept_aside']} kept "
        f"aside, {counts['history']} history item(s), {result.pages} page(s)" + (" (resumed)" if result.resumed else "")
    )
    if result.high_water:
        console.print(f"next incremental sync: --since {result.high_water.isoformat()}")


@app.command()
def costs(
    since: Annotated[datetime | None, typer.Option(help="Only calls at or after this instant (ISO-8601).")] = None,
    tenant: TenantOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Model cost by task, tier and day, and what the same calls would have cost all on the capable tier."""
    from rich.table import Table

    from nightcrew.ai.ledger import cost_report
    from nightcrew.ai.repository import LedgerRepository, to_record

    with opened(tenant) as (container, ref), transaction(container.sessions) as session:
        records = [to_record(row) for row in LedgerRepository(session).since(ref.slug, since)]
    report = cost_report(records)

    def line(row: Any) -> dict[str, Any]:
        return {
            "key": row.key,
            "calls": row.calls,
            "attempts": row.attempts,
            "input_tokens": row.input_tokens,
            "output_tokens": row.output_tokens,
            "cost_usd": round(row.cost_usd, 6),
            "counterfactual_usd": round(row.counterfactual_usd, 6),
            "saving_pct": round(row.saving_pct, 1),
            "by_outcome": row.by_outcome,
        }

    data: dict[str, Any] = {
        "total": line(report.total),
        "by_task": [line(r) for r in report.by_task],
        "by_tier": [line(r) for r in report.by_tier],
        "by_day": [line(r) for r in report.by_day],
    }
    if as_json:
        print(json.dumps(data))
        return
    for title, rows in (("by tier", data["by_tier"]), ("by task", data["by_task"]), ("by day", data["by_day"])):
        table = Table(
            "",
            "calls",
            "tokens in/out",
            "USD",
            "all-capable USD",
            "saving",
            title=f"Cost {title}",
            title_justify="left",
        )
        for row in [*rows, data["total"]]:
            table.add_row(
                row["key"],
                str(row["calls"]),
                f"{row['input_tokens']}/{row['output_tokens']}",
                f"{row['cost_usd']:.4f}",
                f"{row['counterfactual_usd']:.4f}",
                f"{row['saving_pct']:.1f}%",
            )
        console.print(table)
    console.print(
        "[dim]all-capable = every call's tokens priced at the capable tier's rates; local calls are "
        "free and their tokens estimated from text length[/dim]"
    )


@app.command()
def providers(tenant: TenantOption = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every model endpoint of the tenant's playbook: its breaker in each worker, and the tenant's recent calls."""
    from rich.table import Table

    from nightcrew.observe.health import endpoint_health_from_ledger, stored_breakers, worst_breaker

    with opened(tenant) as (container, ref):
        router = container.router(ref)
        live = {h.endpoint: h for h in router.health()}
        urls = {
            config.key: config.resolved_base_url
            for tier in router.policy.tiers.values()
            for config in tier.endpoints
            if not config.is_local
        }
        now = container.clock.now()
        with transaction(container.sessions) as session:
            rows = endpoint_health_from_ledger(session, list(live), tenant=ref.slug)
            breakers = stored_breakers(session, urls, now)
    for row in rows:
        health = live[row["endpoint"]]
        per_worker = breakers.get(row["endpoint"], [])
        row.update(
            provider=health.provider,
            model=health.model,
            tiers=list(health.tiers),
            max_concurrency=health.max_concurrency,
            simulated=health.simulated,
            breaker=None if health.provider == "local" else worst_breaker(per_worker),
            breakers=per_worker,
        )
    if as_json:
        print(json.dumps(rows))
        return
    table = Table(
        "endpoint",
        "provider",
        "model",
        "tiers",
        "breaker",
        "per worker",
        "calls",
        "failures in a row",
        "last success",
        title=f"Model endpoints of {ref.slug} (breakers as last changed in each worker; calls of this tenant)",
        title_justify="left",
    )
    for row in rows:
        table.add_row(
            row["endpoint"],
            row["provider"],
            row["model"] or "",
            ",".join(row["tiers"]),
            row["breaker"] or "-",
            "; ".join(f"{b['executor_id']}: {b['state']}" for b in row["breakers"]),
            row["status"],
            str(row["failures_in_a_row"]),
            row["last_success"] or "",
        )
    console.print(table)


@app.command()
def replay(
    action_id: Annotated[int, typer.Argument(help="The action's id (from trace --json or the dashboard).")],
    model: Annotated[
        int | None, typer.Option(help="Decide with this model version instead of the recorded one.")
    ] = None,
    tenant: TenantOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-run a recorded decision (classification, intent, guardrail verdict, template) from its stored inputs."""
    from nightcrew.observe.replay import replay as run_replay

    with opened(tenant) as (container, ref):
        result = run_replay(container, ref, action_id, model_version=model)
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    verdict = "[green]matches[/green]" if result["matches"] else "[yellow]differs[/yellow]"
    model_note = (
        f" with model version {model}" if model is not None else f" with {result['model'] or 'the same inputs'}"
    )
    console.print(f"action #{action_id} ({result['kind']} at {result['at']}){model_note}: {verdict}")
    for field, value in result["recorded"].items():
        console.print(f"  {field}: recorded {value!r} -> replayed {result['replayed'][field]!r}")


@app.command()
def simulate(
    from_: Annotated[datetime, typer.Option("--from", help="Start of the period (ISO-8601).")],
    to: Annotated[datetime, typer.Option(help="End of the period (ISO-8601).")],
    tenant: TenantOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Shadow mode: replay a period's events against the current playbook and models, sending nothing."""
    from nightcrew.clock import ensure_utc
    from nightcrew.observe.replay import shadow

    with opened(tenant) as (container, ref):
        result = shadow(container, ref, ensure_utc(from_), ensure_utc(to))
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    examined = ", ".join(f"{n} {kind}" for kind, n in result["examined"].items())
    console.print(
        f"{sum(result['examined'].values())} events examined ({examined}) with {result['lead_model']} and "
        f"{result['intent_model']} (nothing was sent or changed)"
    )
    for what, count in result["would_change"].items():
        console.print(f"  {what}: {count} would change")
        for example in result["examples"][what][:5]:
            console.print(f"    {example['event']}: {example['was']} -> {example['would_be']}")
