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
from nightcrew.db import transaction
from nightcrew.intelligence.intents import bundled_holdout_evaluation
from nightcrew.observe.outcomes import with_rates
from nightcrew.observe.repository import ActionRepository, OutcomeRepository, StatsRepository
from nightcrew.review.repository import ReviewRepository

if TYPE_CHECKING:
    from nightcrew.simulate.month import Simulation


def _outbox_keys(path: Path) -> Counter[str]:
    keys: Counter[str] = Counter()
    if path.exists():
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                keys[json.loads(line)["idempotency_key"]] += 1
    return keys


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
    keys = _outbox_keys(sim.options.outbox_path)
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
        started = [o for o, _ in actions.outputs_of_kind("followup.started")]
        opt_outs = len(actions.outputs_of_kind("consent.withdrawn"))
        ledger = [to_record(row) for row in LedgerRepository(session).since(sim.tenant.slug, None)]
        by_path = {row["key"]: row for row in outcomes.table("path")}
        sent_by_path = stats.sent_by("path")
        outcome_tables = {
            column: with_rates(outcomes.table(column)) for column in ("variant", "template", "segment", "language")
        }
        waits = stats.model_waits()
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
    entered = Counter((o.get("reason"), o.get("path")) for o in started)
    report["followups"] = {
        "by_status": followup_status,
        "due_by_end": due_by_end,
        "paths": [
            {
                "reason": reason,
                "path": path,
                "entered": count,
                "messages_sent": sent_by_path.get(str(path), 0),
                "replies": by_path.get(str(path), {}).get("replied", 0),
                "bookings": by_path.get(str(path), {}).get("booked", 0),
                "opt_outs": by_path.get(str(path), {}).get("opted_out", 0),
            }
            for (reason, path), count in sorted(entered.items(), key=lambda kv: str(kv[0]))
        ],
    }
    costs = cost_report(ledger)
    report["costs"] = {
        "simulated": sim.endpoint is not None,
        "total": _cost_line(costs.total),
        "by_tier": [_cost_line(line) for line in costs.by_tier],
        "by_task": [_cost_line(line) for line in costs.by_task],
        "saving_pct": round(costs.total.saving_pct, 1),
        "how": "counterfactual = the same calls' tokens priced at the capable tier's per-token rates; local calls "
        "(own models, templates) cost 0 and their tokens are estimated from text length (4 chars/token)",
    }
    outcome_counts = Counter(r.outcome for r in ledger)
    queued = sum(waits.values())
    report["failover"] = {
        "outage": {"starts_after_days": sim.options.outage_day, "hours": sim.options.outage_hours}
        if sim.endpoint is not None
        else None,
        "calls_failed_over": outcome_counts.get("fell_back", 0),
        "calls_failed": outcome_counts.get("failed", 0),
        "calls_retried": outcome_counts.get("retried", 0),
        "queued_messages": queued,
        "drained": waits.get("sent", 0),
        "drained_then_held_by_guardrails": sum(n for s, n in waits.items() if s in ("blocked", "review", "deferred")),
        "max_queue_depth": sim.max_waiting_for_model,
        "messages_lost": waits.get("awaiting_model", 0),
        "duplicates": report["duplicate_sends"],
    }
    final_verdicts = Counter(str(o.get("verdict")) for o, _ in verdicts)
    per_check: Counter[str] = Counter()
    blocked_examples: list[dict[str, Any]] = []
    for output, reason in verdicts:
        for check in output.get("checks", []):
            if check.get("verdict") != "pass":
                per_check[f"{check.get('check')}:{check.get('verdict')}"] += 1
        if output.get("verdict") == "block" and len(blocked_examples) < 3:
            blocked_examples.append({"reason": reason, "message_id": output.get("message_id")})
    report["guardrails"] = {
        "verdicts": {k: final_verdicts.get(k, 0) for k in ("pass", "revise", "defer", "review", "block")},
        "by_check": dict(per_check.most_common()),
        "blocked_examples": blocked_examples,
        "model_drafts_with_invented_offers": sim.model.invented if sim.model else 0,
        "review_queue_open": review.get("open", 0),
    }
    report["outcomes"] = outcome_tables
    report["wall_seconds"] = round(time.perf_counter() - sim.started, 1)
    return report
