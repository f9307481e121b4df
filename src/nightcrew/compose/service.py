"""Compose one message through the model router: an LLM draft where the playbook routes it, else the template."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from nightcrew.ai.config import TaskName
from nightcrew.ai.errors import InvalidModelOutput, RequestRejected
from nightcrew.ai.prompts import ComposeBrief, ContactContext
from nightcrew.ai.router import CallContext, ModelRouter
from nightcrew.ai.structured import Draft as ModelDraft
from nightcrew.compose.templates import TemplateComposer, first_name
from nightcrew.playbook.schemas import Playbook

_MAX_CHARS = {"sms": 450, "whatsapp": 900, "email": 1500}


@dataclass(frozen=True)
class Composed:
    """A draft and how it was obtained."""

    text: str
    language: str
    plan: str
    template: str
    variant: str | None
    source: str  # 'template' (rendered as written) or 'llm'
    model: str | None
    tier: str
    endpoint: str
    cost_usd: float
    counterfactual_usd: float
    fell_back: bool
    reason: str
    # The model's own rating of its draft (None for templates and models that do not say).
    quality: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form for step results and the audit log."""
        return asdict(self)


def compose_message(
    router: ModelRouter,
    composer: TemplateComposer,
    playbook: Playbook,
    *,
    task: TaskName,
    plan: Mapping[str, Any],
    contact: Mapping[str, Any],
    channel: str,
    tenant: str,
    call_id: str,
    last_message: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Composed:
    """Draft a message for ``plan`` in its language; raises TierUnavailable when it must wait for a model."""
    language = str(plan["language"])

    def from_template() -> ModelDraft:
        draft = composer.render(plan["template"], plan["plan"], language, contact, extra, channel=channel)
        return ModelDraft(text=draft.text, language=language, claims_used=[])

    business = playbook.business
    details = {k: str(v) for k, v in (contact.get("fields") or {}).items() if v not in (None, "")}
    brief = ComposeBrief(
        task=task,
        business_name=business.name,
        language=language,
        facts=tuple(playbook.facts.get(language, [])),  # type: ignore[call-overload]
        contact=ContactContext(
            name=first_name(contact.get("name")) or None,
            segment=contact.get("segment"),
            stage=contact.get("stage"),
            channel=channel,
            last_message=last_message,
            details=details,
        ),
        tone=str(plan.get("tone") or ""),
        call_to_action=str(plan.get("call_to_action") or ""),
        booking_url=str(business.booking_url),
        signature=business.signature.get(language),  # type: ignore[call-overload]
        max_chars=_MAX_CHARS.get(channel, 900),
    )
    context = CallContext(tenant=tenant, contact=str(contact.get("external_id") or ""), call_id=call_id)
    try:
        routed = router.compose(brief, template=from_template, context=context)
    except (RequestRejected, InvalidModelOutput) as exc:
        # Waiting will not fix a rejected request or a model that keeps answering badly: use the template.
        draft = from_template()
        return Composed(
            text=draft.text,
            language=language,
            plan=str(plan["plan"]),
            template=str(plan["template"]),
            variant=plan.get("variant"),
            source="template",
            model="template",
            tier="local",
            endpoint="local",
            cost_usd=sum(r.cost_usd for r in exc.records),
            counterfactual_usd=0.0,
            fell_back=True,
            reason=f"model output unusable ({exc.code}); template {language}/{plan['template']}.j2",
        )
    llm = routed.source == "llm"
    return Composed(
        text=routed.value.text,
        language=language,
        plan=str(plan["plan"]),
        template=str(plan["template"]),
        variant=plan.get("variant"),
        source="llm" if llm else "template",
        model=routed.model if llm else "template",
        tier=routed.tier,
        endpoint=routed.endpoint,
        cost_usd=routed.cost_usd,
        counterfactual_usd=routed.counterfactual_usd,
        fell_back=routed.fell_back,
        reason=routed.reason
        if llm
        else f"template {language}/{plan['template']}.j2" + (f" ({routed.reason})" if routed.fell_back else ""),
        quality=routed.value.confidence if llm else None,
    )
