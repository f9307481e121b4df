"""Which message plan applies: the most specific one matching segment, stage and language."""

from __future__ import annotations

import hashlib

from nightcrew.errors import ConfigurationError
from nightcrew.playbook.schemas import MessagePlan, MessagePurpose, Playbook, Variant


def pick_plan(
    playbook: Playbook,
    *,
    purpose: MessagePurpose,
    segment: str | None,
    stage: str | None,
    language: str,
    intent: str | None = None,
) -> MessagePlan:
    """The plan for this contact; ties go to the plan listed first in the playbook."""
    candidates = [
        plan
        for plan in playbook.message_plans
        if plan.purpose == purpose
        and plan.when.segment in (None, segment)
        and plan.when.stage in (None, stage)
        and plan.when.language in (None, language)
        and plan.when.intent in (None, intent)
    ]
    if not candidates:
        raise ConfigurationError(
            f"no {purpose} message plan matches segment={segment} stage={stage} language={language} "
            f"intent={intent}; add a plan without conditions as the default"
        )
    best = max(plan.specificity() for plan in candidates)
    return next(plan for plan in candidates if plan.specificity() == best)


def assign_variant(plan: MessagePlan, contact_key: str) -> Variant | None:
    """The contact's variant of the plan: stable for the contact, spread by weight across contacts."""
    if not plan.variants:
        return None
    digest = hashlib.sha256(f"{plan.name}:{contact_key}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % sum(v.weight for v in plan.variants)
    for variant in plan.variants:
        if point < variant.weight:
            return variant
        point -= variant.weight
    return plan.variants[-1]


def plan_copy(plan: MessagePlan, contact_key: str) -> dict[str, str | None]:
    """The template a contact gets for a plan, and its A/B variant's name (None when the plan has no variants)."""
    variant = assign_variant(plan, contact_key)
    return {"template": variant.template if variant else plan.template, "variant": variant.name if variant else None}
