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
) -> None:
    """Backfill contacts from the CRM through its list API, page by page; resumable after an interruption."""
    from nightcrew.crm.repository import ImportErrors, SyncCheckpoints
    from nightcrew.crm.sync import SyncPage, sync_contacts

    with opened(tenant) as (container, ref):
        connector = container.crm_connector(ref)
        if connector is None:
            err.print(f"[red]error:[/red] tenant {ref.slug} has no CRM configured (NIGHTCREW_CRM or its crm setting)")
            raise typer.Exit(1)
        crm = container.integrations(ref).crm
        playbook = container.playbook(ref)
        counts = {"created": 0, "updated": 0, "kept_aside": 0}

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
            counts["created"] += new
            counts["updated"] += changed
            counts["kept_aside"] += len(page.errors)

        with _bar() as bar:
            task = bar.add_task(f"syncing {crm}", total=None)
            result = sync_contacts(
                connector,
                playbook.crm.for_crm(crm),
                SyncCheckpoints(container.sessions, ref.id, container.clock),
                since,
                lambda done, total: bar.update(task, completed=done, total=total),
                tenant=ref.slug,
                sink=sink,
                page_size=page_size,
                clock=container.clock,
            )
    console.print(
        f"{crm}: {counts['created']} created, {counts['updated']} updated, {counts['kept_aside']} kept "
        f"aside, {result.pages} page(s)" + (" (resumed)" if result.resumed else "")
    )
    if result.high_water:
        console.print(f"next incremental sync: --since {result.high_water.isoformat()}")
