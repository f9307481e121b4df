"""The demo's lead model: two years of history, trained and measured as an operator would, through the gate."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from nightcrew.bootstrap import Container, TenantRef
from nightcrew.db import transaction
from nightcrew.intelligence.segments import evaluate_segment_model, save_model, train_segment_model
from nightcrew.simulate.history import generate_history

if TYPE_CHECKING:
    from nightcrew.simulate.month import DemoOptions


def train_and_promote(container: Container, tenant: TenantRef, options: DemoOptions) -> dict[str, Any]:
    """Train on the first 18 months, evaluate on the last 6, let the playbook's gate decide, report it all."""
    policy = container.playbook(tenant).lead_model
    now = container.clock.now()
    history = generate_history(options.history_rows, options.seed, end_date=options.start)
    created = history["created_at"]
    cutoff = created.max() - timedelta(days=182)
    train, held_out = history[created <= cutoff], history[created > cutoff]
    result = train_segment_model(
        train,
        policy.target,
        drop=tuple(policy.drop),
        id_column=policy.id_column,
        reference_time=now,
        positive_class=policy.positive_class,
        random_state=options.seed,
    )
    info = save_model(result.model, (options.work_dir / "lead-model").resolve())
    holdout = evaluate_segment_model(result.model, held_out, policy.target)
    with transaction(container.sessions) as session:
        row = container.registry.register_lead_model(session, tenant.id, result, info, target=policy.target, now=now)
        container.registry.record_holdout(session, tenant.id, "lead", row.version, holdout.model_dump(mode="json"))
        decision = container.registry.promote_lead_model(
            session,
            tenant.id,
            row.version,
            now=now,
            min_accuracy=policy.min_accuracy,
            min_auc=policy.min_auc,
            strict_accuracy=not policy.allow_accuracy_tie,
        )
        version = row.version
    return {
        "version": version,
        "algorithm": info.chosen_model,
        "history_rows": options.history_rows,
        "train_rows": len(train),
        "holdout_rows": len(held_out),
        "cross_validation": result.metrics.model_dump(mode="json"),
        "holdout": holdout.model_dump(mode="json"),
        "gate": decision.model_dump(mode="json"),
        "promoted": decision.allowed,
    }
