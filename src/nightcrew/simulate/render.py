"""Print the demo report as Rich tables."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="left" if column == columns[0] else "right")
    return table


def _counts(title: str, counts: dict[str, int]) -> Table:
    table = _table(title, "value", "count")
    for key, value in sorted(counts.items(), key=lambda kv: -kv[1]):
        table.add_row(str(key), str(value))
    return table


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def render_report(console: Console, report: dict[str, Any]) -> None:
    """The demo report, section by section."""
    console.rule(f"[bold]{report['business']}[/bold]: {report['period']['days']} days simulated")
    summary = _table("Summary", "figure", "value")
    for key in (
        "events_received",
        "events_processed",
        "duplicate_events_ignored",
        "messages_sent",
        "deferred",
        "failed",
        "duplicate_sends",
        "lost_events",
        "opt_outs",
        "handoffs",
        "wall_seconds",
    ):
        summary.add_row(key, str(report[key]))
    console.print(summary)
    console.print(_counts("Messages sent by language", report["messages_by_language"]))
    console.print(_counts("Messages sent by segment", report["messages_by_segment"]))
    console.print(_counts("Messages sent by purpose", report["messages_by_purpose"]))

    model = report["lead_model"]
    lead = _table(
        f"Lead model v{model['version']} ({model['algorithm']}): trained on {model['train_rows']} leads, "
        f"held out {model['holdout_rows']}",
        "metric",
        "cross-validated",
        "held out",
    )
    for metric in (
        "base_rate",
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
        "roc_auc",
        "log_loss",
        "brier",
        "lift_at_10pct",
    ):
        cv, ho = model["cross_validation"].get(metric), model["holdout"].get(metric)
        lead.add_row(metric, f"{cv:.3f}" if cv is not None else "", f"{ho:.3f}" if ho is not None else "")
    console.print(lead)
    decision = "PROMOTED" if model["promoted"] else "REFUSED"
    console.print(
        f"gate: [bold]{decision}[/bold] — "
        + "; ".join(f"{'ok' if c['passed'] else 'FAIL'} {c['name']}" for c in model["gate"]["checks"])
    )

    intents = report["intent_model"]
    console.print(
        f"intent model on {intents['held_out_examples']} held-out examples: accuracy "
        f"{intents['accuracy']:.3f}, macro-F1 {intents['macro_f1']:.3f} "
        + ", ".join(f"{k} {v:.3f}" for k, v in intents["macro_f1_by_language"].items())
    )
    console.print(_counts("Inbound messages by language", report["inbound"]["by_language"]))
    console.print(_counts("Inbound messages by intent", report["inbound"]["by_intent"]))
    console.print(_counts("Conversations routed to", report["routed_to"]))

    followups = _table(
        "Follow-ups by reason and path", "reason / path", "entered", "sent", "replied", "booked", "opted out"
    )
    for row in report["followups"]["paths"]:
        followups.add_row(
            f"{row['reason']} / {row['path']}",
            str(row["entered"]),
            str(row["messages_sent"]),
            str(row["replied"]),
            str(row["booked"]),
            str(row["opted_out"]),
        )
    console.print(followups)
    for row in report["followups"]["paths"]:
        ended = ", ".join(f"{ending} {n}" for ending, n in row["ended"].items()) or "nothing yet"
        console.print(f"[dim]{row['path']} sequences ended: {ended}[/dim]")

    costs = report["costs"]
    where = (
        " (simulated endpoint)"
        if costs["simulated"]
        else (f" (capable tier: {', '.join(costs['capable_endpoints'])})" if costs.get("capable_endpoints") else "")
    )
    cost = _table(
        "Model cost by tier" + where,
        "tier",
        "calls",
        "tokens in/out",
        "cost USD",
        "all-capable USD",
        "saving",
    )
    for line in [*costs["by_tier"], costs["total"]]:
        cost.add_row(
            line["key"],
            str(line["calls"]),
            f"{line['input_tokens']}/{line['output_tokens']}",
            f"{line['cost_usd']:.4f}",
            f"{line['counterfactual_usd']:.4f}",
            f"{line['saving_pct']:.1f}%",
        )
    console.print(cost)
    console.print(f"[dim]{costs['how']}[/dim]")
    failover = report["failover"]
    console.print(_counts("Failover", {k: v for k, v in failover.items() if isinstance(v, int)}))
    if failover.get("outage"):
        outage = failover["outage"]
        console.print(f"[dim]provider outage {outage['hours']:g} h from day {outage['starts_after_days']:g}[/dim]")
    for name in ("lost_breakdown", "duplicates_breakdown"):
        parts = ", ".join(f"{k} {v}" for k, v in failover.get(name, {}).items())
        console.print(f"[dim]{name.replace('_', ' ')}: {parts}[/dim]")
    if failover.get("how"):
        console.print(f"[dim]{failover['how']}[/dim]")

    guardrails = report["guardrails"]
    console.print(_counts("Guardrail verdicts", guardrails["verdicts"]))
    checks = _table("Guardrail verdicts by check", "check", "pass", "revise", "defer", "review", "block")
    for name, counts in guardrails["by_check"].items():
        checks.add_row(name, *(str(counts.get(k, 0)) for k in ("pass", "revise", "defer", "review", "block")))
    console.print(checks)
    for example in guardrails["blocked_examples"]:
        console.print(
            f"[red]blocked[/red] message #{example['message_id']} ({example['source']} draft): "
            f"{'; '.join(example['reasons'])}\n  [dim]{example['draft']}[/dim]"
        )
    console.print(
        f"review queue: {guardrails['review_queue_open']} open; model drafts with invented offers: "
        f"{guardrails['model_drafts_with_invented_offers']}; blocked drafts sent as written: "
        f"{guardrails['blocked_drafts_sent_as_written']}; deferred by "
        + (", ".join(f"{k} {v}" for k, v in guardrails["deferred_by"].items()) or "nothing")
    )
    console.print(
        f"follow-ups still due at the end of the period: {report['followups']['due_by_end']} "
        f"(by status: {report['followups']['by_status']})"
    )

    variants = _table("Outcomes by message variant (A/B)", "variant", "sent", "replied", "booked", "rate (95% CI)")
    for row in report["outcomes"]["variant"]:
        low, high = row["booked_ci95"]
        variants.add_row(
            row["key"] if row["key"] != "None" else "(no variant)",
            str(row["sent"]),
            str(row["replied"]),
            str(row["booked"]),
            f"{_pct(row['booked_rate'])} ({_pct(low)}–{_pct(high)})",
        )
    console.print(variants)
