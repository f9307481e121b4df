"""Print the demo report as Rich tables."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _counts_table(title: str, counts: dict[str, int]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("value")
    table.add_column("count", justify="right")
    for key, value in sorted(counts.items(), key=lambda kv: -kv[1]):
        table.add_row(key, str(value))
    return table


def render_report(console: Console, report: dict[str, Any]) -> None:
    """The demo report, section by section."""
    console.rule(f"[bold]{report['business']}[/bold]: {report['period']['days']} days simulated")
    summary = Table(title="Summary", title_justify="left")
    summary.add_column("figure")
    summary.add_column("value", justify="right")
    for key in (
        "events_received",
        "events_processed",
        "duplicate_events_ignored",
        "messages_sent",
        "deferred",
        "failed",
        "duplicate_sends",
        "lost_events",
        "wall_seconds",
    ):
        summary.add_row(key, str(report[key]))
    summary.add_row(
        "followups pending (due by end)",
        f"{report['followups']['by_status'].get('pending', 0)} ({report['followups']['due_by_end']})",
    )
    console.print(summary)
    console.print(_counts_table("Messages sent by language", report["messages_by_language"]))
    console.print(_counts_table("Messages sent by segment", report["messages_by_segment"]))
    console.print(_counts_table("Messages sent by channel", report["messages_by_channel"]))
    console.print(_counts_table("Events by status", report["events_by_status"]))
