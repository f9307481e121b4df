"""The demo report: every section read back from the database, the ledger and the outbox file."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nightcrew.ai.ledger import CostLine, cost_report
from nightcrew.ai.repository import LedgerRepository, to_record
from nightcrew.channels.repository import DueMessages
from nightcrew.db import transaction
from nightcrew.intelligence.intents import bundled_holdout_evaluation
from nightcrew.observe.outcomes import with_rates
from nightcrew.observe.repository import ActionRepository, OutcomeRepository, StatsRepository
from nightcrew.review.repository import ReviewRepository

if TYPE_CHECKING:
    from nightcrew.simulate.month import Simulation


def _outbox_lines(path: Path) -> list[dict[str, Any]]:
    """What the channel received: one JSON object per delivered message."""
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


# Where an intended message can honestly be at the end: delivered, or held with a reason in the audit log
# (guardrails, a person, a stop cause), or failed with the error. "pending" (never checked or never sent) is not.
_SETTLED = {"sent", "blocked", "review", "withdrawn", "rejected", "failed"}
_WAITING = {"deferred", "awaiting_model"}


def failover_accounting(
    messages: dict[str, int],
    overdue: int,
    events: dict[str, int],
    waits: dict[str, int],
    lines: list[dict[str, Any]],
) -> dict[str, Any]:
    """Lost and doubled messages, counted from what was intended (the outbox table, the events) and what the
    channel received (the outbox file's idempotency keys), not from the failover queue alone."""
    lost = {
        "never_sent": messages.get("pending", 0),
        # Waiting past its due time at the end: nothing would ever release it.
        "overdue_waiting": overdue,
        "unknown_status": sum(n for status, n in messages.items() if status not in _SETTLED | _WAITING | {"pending"}),
        # An event that failed or never finished may have intended a message that never reached the outbox.
        "events_failed_or_unfinished": sum(
            n for status, n in events.items() if status in ("failed", "received", "processing")
        ),
    }
    keys = Counter(line["idempotency_key"] for line in lines)
    first_messages = Counter(line["contact_external_id"] for line in lines if line.get("purpose") == "outreach")
    duplicates = {
        "repeated_idempotency_keys": sum(n - 1 for n in keys.values() if n > 1),
        "second_first_messages": sum(n - 1 for n in first_messages.values() if n > 1),
    }
    queued = sum(waits.values())
    return {
        "queued_messages": queued,
        # Left the queue: composed once a model answered (then sent, or held by the guardrails with a reason).
        "drained": queued - waits.get("awaiting_model", 0),
        "drained_then_sent": waits.get("sent", 0),
        "drained_then_held": sum(n for status, n in waits.items() if status not in ("sent", "awaiting_model")),
        "still_waiting_with_due_time": sum(n for status, n in messages.items() if status in _WAITING) - overdue,
        "messages_lost": sum(lost.values()),
        "lost_breakdown": lost,
        "duplicates": sum(duplicates.values()),
        "duplicates_breakdown": duplicates,
        "how": "lost = intended messages (outbox rows) never sent and not held with a reason, waiting messages past "
        "their due time, and events that failed or never finished; duplicates = repeated idempotency keys in what "
        "the channel received, plus any contact that received a second first message",
    }


def _cost_line(line: CostLine) -> dict[str, Any]:
    return {
        "key": line.key,
        "calls": line.calls,
        "attempts": line.attempts,
        "input_tokens": line.input_tokens,
        "output_tokens": line.output_tokens,
        "cost_usd": round(line.cost_usd, 6),
        "counterfactual_usd": round(line.counterfactual_usd, 6),
        "saving_pct": round(line.saving_pct, 1),
        "by_outcome": line.by_outcome,
    }


def build_report(sim: Simulation, end: datetime) -> dict[str, Any]:
    """The demo's figures."""
    lines = _outbox_lines(sim.options.outbox_path)
    keys = Counter(line["idempotency_key"] for line in lines)
    tenant_id = sim.tenant.id
    with transaction(sim.container.sessions) as session:
        stats = StatsRepository(session, tenant_id)
        actions = ActionRepository(session, tenant_id)
        outcomes = OutcomeRepository(session, tenant_id)
        events = stats.events_by_status()
        messages = stats.messages_by_status()
        understood = [o for o, _ in actions.outputs_of_kind("inbound.understood")]
        routed = [o for o, _ in actions.outputs_of_kind("inbound.routed")]
        verdicts = actions.outputs_of_kind("guardrail.verdict")
        verdict_actions = [(a.input, a.output, a.reason) for a in actions.of_kind("guardrail.verdict")]
        sent_actions = [(a.input, a.output) for a in actions.of_kind("message.sent")]
        started_rows = [(a.contact_id, a.created_at, a.output) for a in actions.of_kind("followup.started")]
        endings = stats.followup_endings_by_path()
        outcome_timeline = outcomes.timeline()
        opt_outs = len(actions.outputs_of_kind("consent.withdrawn"))
        ledger = [to_record(row) for row in LedgerRepository(session).since(sim.tenant.slug, None)]
        sent_by_path = stats.sent_by("path")
        outcome_tables = {
            column: with_rates(rows)
            for column, rows in outcomes.tables(("variant", "template", "segment", "language")).items()
        }
        waits = stats.model_waits()
        overdue = len(DueMessages(session).due(sim.clock.now(), 1_000_000, tenant_id))
        review = ReviewRepository(session, tenant_id).count_by_status()
        followup_status = stats.followups_by_status()
        due_by_end = stats.followups_due_by(end)
    report: dict[str, Any] = {
        "business": sim.container.playbook(sim.tenant).business.name,
        "period": {"start": sim.options.start.isoformat(), "end": end.isoformat(), "days": sim.options.days},
        "events_received": sim.accepted + sim.duplicates + sim.rejected,
        "events_processed": sum(n for status, n in events.items() if status in ("done", "failed")),
        "events_by_status": events,
        "duplicate_events_ignored": sim.duplicates,
        "messages_sent": messages.get("sent", 0),
        "messages_by_status": messages,
        "messages_by_language": stats.sent_by("language"),
        "messages_by_segment": stats.sent_by("segment"),
        "messages_by_channel": stats.sent_by("channel"),
        "messages_by_purpose": stats.sent_by("purpose"),
        "deferred": len({o.get("message_id") for o, _ in verdicts if o.get("verdict") == "defer"}),
        "failed": events.get("failed", 0) + messages.get("failed", 0),
        "duplicate_sends": sum(n - 1 for n in keys.values() if n > 1),
        "lost_events": sum(n for status, n in events.items() if status not in ("done", "failed")),
        "wall_seconds": round(0.0, 2),
        "lead_model": sim.lead_model,
    }
    holdout = bundled_holdout_evaluation(
        seed=0, threshold=sim.container.playbook(sim.tenant).thresholds.intent_confidence
    )
    report["intent_model"] = {
        "held_out_examples": holdout.n_examples,
        "accuracy": round(holdout.accuracy, 4),
        "macro_f1": round(holdout.macro_f1, 4),
        "macro_f1_by_language": {k: round(v, 4) for k, v in holdout.per_language_macro_f1.items()},
    }
    report["inbound"] = {
        "messages": len(understood),
        "by_language": dict(Counter(o.get("language") for o in understood).most_common()),
        "by_intent": dict(Counter(o.get("intent") for o in understood).most_common()),
        "escalated_to_capable_tier": sum(1 for o in understood if o.get("escalated")),
    }
    report["routed_to"] = dict(Counter(o.get("team") for o in routed).most_common())
    report["handoffs"] = sum(1 for o in routed if o.get("handoff"))
    report["opt_outs"] = opt_outs
    report["followups"] = {
        "by_status": followup_status,
        "due_by_end": due_by_end,
        "paths": followup_paths(started_rows, endings, outcome_timeline, sent_by_path),
        "how": "per path: contacts that entered it; messages it sent; of those contacts, how many replied, booked "
        "or opted out after entering (until they entered another sequence); and how the sequences ended",
    }
    costs = cost_report(ledger)
    capable = sim.container.playbook(sim.tenant).routing.capable_tier
    capable_calls = [r for r in ledger if r.tier == capable and r.provider != "local"]
    report["costs"] = {
        # Labelled simulated only when the capable tier's calls went to the simulated endpoint.
        "simulated": any(r.simulated for r in capable_calls),
        "capable_endpoints": sorted({r.endpoint for r in capable_calls}),
        "total": _cost_line(costs.total),
        "by_tier": [_cost_line(line) for line in costs.by_tier],
        "by_task": [_cost_line(line) for line in costs.by_task],
        "saving_pct": round(costs.total.saving_pct, 1),
        "how": "counterfactual = the same calls' tokens priced at the capable tier's per-token rates; local calls "
        "(own models, templates) cost 0 and their tokens are estimated from text length (4 chars/token)",
    }
    outcome_counts = Counter(r.outcome for r in ledger)
    report["failover"] = {
        "outage": {"starts_after_days": sim.options.outage_day, "hours": sim.options.outage_hours}
        if sim.endpoint is not None
        else None,
        "calls_failed_over": outcome_counts.get("fell_back", 0),
        "calls_failed": outcome_counts.get("failed", 0),
        "calls_retried": outcome_counts.get("retried", 0),
        "max_queue_depth": sim.max_waiting_for_model,
        **failover_accounting(messages, overdue, events, waits, lines),
    }
    report["guardrails"] = {
        **guardrail_section(verdict_actions, sent_actions),
        "model_drafts_with_invented_offers": sim.model.invented if sim.model else 0,
        "review_queue_open": review.get("open", 0),
        "review_queue": review,
    }
    report["outcomes"] = outcome_tables
    report["wall_seconds"] = round(time.perf_counter() - sim.started, 1)
    return report


def followup_paths(
    started: list[tuple[int | None, datetime, dict[str, Any]]],
    endings: dict[str, dict[str, int]],
    outcomes: list[tuple[int, str, datetime]],
    sent_by_path: dict[str, int],
) -> list[dict[str, Any]]:
    """Per (reason, path): contacts entered, messages sent, contacts that replied/booked/opted out after entering."""
    spells: dict[int, list[tuple[datetime, str, str]]] = {}
    for contact_id, at, output in started:
        if contact_id is not None:
            spells.setdefault(contact_id, []).append((at, str(output.get("reason")), str(output.get("path"))))
    reacted: dict[tuple[str, str], dict[str, set[int]]] = {}
    for contact_id, kind, at in outcomes:
        mine = [spell for spell in spells.get(contact_id, []) if spell[0] <= at]
        if not mine:
            continue
        _, reason, path = mine[-1]  # the sequence the contact was in (or had last been in) when it happened
        reacted.setdefault((reason, path), {}).setdefault(kind, set()).add(contact_id)
    entered = Counter((reason, path) for runs in spells.values() for _, reason, path in runs)
    return [
        {
            "reason": reason,
            "path": path,
            "entered": count,
            "messages_sent": sent_by_path.get(path, 0),
            "replied": len(reacted.get((reason, path), {}).get("replied", set())),
            "booked": len(reacted.get((reason, path), {}).get("booked", set())),
            "opted_out": len(reacted.get((reason, path), {}).get("opted_out", set())),
            "ended": dict(sorted(endings.get(path, {}).items(), key=lambda kv: -kv[1])),
        }
        for (reason, path), count in sorted(entered.items())
    ]


def guardrail_section(
    verdicts: list[tuple[dict[str, Any], dict[str, Any], str]], sent: list[tuple[dict[str, Any], dict[str, Any]]]
) -> dict[str, Any]:
    """Final verdicts, each check's verdicts, deferrals by check, blocked drafts (text and reasons), and leaks: a
    blocked draft that reached a channel as written (must be 0)."""
    final = Counter(str(o.get("verdict")) for _, o, _ in verdicts)
    per_check: dict[str, Counter[str]] = {}
    deferred_by: Counter[str] = Counter()
    blocked: dict[int, set[str]] = {}
    examples: list[dict[str, Any]] = []
    for inputs, output, reason in verdicts:
        checks = output.get("checks", [])
        for check in checks:
            per_check.setdefault(str(check.get("check")), Counter())[str(check.get("verdict"))] += 1
        if output.get("verdict") == "defer":
            for check in checks:
                if check.get("verdict") == "defer":
                    deferred_by[str(check.get("check"))] += 1
        if output.get("verdict") == "block":
            blocked.setdefault(int(output.get("message_id") or 0), set()).add(str(inputs.get("text")))
            if len(examples) < 5:
                examples.append(
                    {
                        "message_id": output.get("message_id"),
                        "source": inputs.get("source"),
                        "draft": str(inputs.get("text"))[:240],
                        "reasons": [
                            f"{c.get('check')}: {c.get('reason')}" for c in checks if c.get("verdict") == "block"
                        ]
                        or [reason],
                    }
                )
    leaks = sum(
        1
        for inputs, output in sent
        if str(output.get("text")) in blocked.get(int(inputs.get("message_id") or 0), set())
    )
    return {
        "verdicts": {k: final.get(k, 0) for k in ("pass", "revise", "defer", "review", "block")},
        "by_check": {name: dict(counts.most_common()) for name, counts in sorted(per_check.items())},
        "deferred_by": dict(deferred_by.most_common()),
        "blocked_examples": examples,
        "blocked_drafts_sent_as_written": leaks,
    }
