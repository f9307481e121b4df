"""The understanding tasks through the router: a lead's segment, a message's language, a hand-off summary.

By default each runs on the local tier: nightcrew's own models (the learned lead model, the language
detector) and an extractive summary, recorded in the cost ledger at cost 0 with their latency. A playbook may
route any of them to a network tier; the answer is then validated with pydantic like every structured output.
Nothing is sent to a contact on these answers, so they never wait for a model that is down: when no allowed
endpoint answers, nightcrew's own answer stands and the ledger says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nightcrew.ai.ledger import CallRecord
from nightcrew.ai.prompts import LANGUAGE_NAMES
from nightcrew.ai.router import CallContext, ModelRouter, Routed
from nightcrew.ai.structured import Classification, Summary
from nightcrew.playbook.schemas import Playbook

if TYPE_CHECKING:
    from nightcrew.intelligence.segments import SegmentModel

# A summary quotes at most this much of each message: enough to act on, short enough to scan.
_QUOTE_CHARS = 160
_RECENT_TURNS = 8


def _routing(routed: Routed[Any], *, escalated: bool = False) -> dict[str, Any]:
    return {
        "source": routed.source,
        "tier": routed.tier,
        "endpoint": routed.endpoint,
        "model": routed.model,
        "fell_back": routed.fell_back,
        "escalated": escalated,
        "cost_usd": round(routed.cost_usd, 8),
        "latency_ms": round(sum(r.latency_ms for r in routed.records), 3),
        "reason": routed.reason,
    }


def lead_text(fields: Mapping[str, Any]) -> str:
    """A lead's intake fields as the text a model labels (one ``name: value`` per line, sorted)."""
    lines = [f"{name}: {value}" for name, value in sorted(fields.items()) if value not in (None, "")]
    return "\n".join(lines) or "(no fields)"


def classify_lead(
    router: ModelRouter,
    playbook: Playbook,
    model: SegmentModel | None,
    version: int | None,
    fields: Mapping[str, Any],
    *,
    context: CallContext,
) -> dict[str, Any]:
    """The lead's segment through the ``classify_lead`` route: the learned model locally, else the routed tier."""
    from nightcrew.intelligence.decisions import decide_segment

    local_decision: dict[str, Any] = {}

    def local() -> Classification:
        local_decision.update(decide_segment(playbook, model, version, dict(fields)))
        confidence = local_decision["confidence"]
        return Classification(
            label=local_decision["segment"],
            confidence=float(confidence) if confidence is not None else 0.0,
            reason=local_decision["reason"],
        )

    labels = {segment.name: segment.description for segment in playbook.segments}
    cascade = router.classify(
        "classify_lead", lead_text(fields), labels=labels, local=local, context=context, must_answer=True
    )
    final = cascade.final
    if final.source == "local":
        decision = dict(local_decision)
    else:
        decision = {
            "segment": final.value.label,
            "probability": None,
            "confidence": round(final.value.confidence, 4),
            "model": final.model or final.endpoint,
            "why": [final.value.reason] if final.value.reason else [],
            "reason": f"{final.model} on tier {final.tier}: {final.value.label} at {final.value.confidence:.2f}"
            + (f"; {final.value.reason}" if final.value.reason else ""),
        }
    if cascade.escalated:
        decision["cheap_answer"] = {"segment": cascade.cheap.value.label, "confidence": cascade.cheap.value.confidence}
    decision["routing"] = _routing(final, escalated=cascade.escalated)
    decision["routing"]["cost_usd"] = round(sum(r.cost_usd for r in cascade.records), 8)
    return decision


@dataclass(frozen=True)
class LanguageAnswer:
    """A message's language, how sure, what decided it, and how the router got the answer."""

    language: str
    confidence: float
    source: str
    routing: dict[str, Any]
    records: tuple[CallRecord, ...] = field(default=())

    @property
    def cost_usd(self) -> float:
        """What the answer cost (0 on the local tier)."""
        return sum(r.cost_usd for r in self.records)


def detect_language(
    router: ModelRouter,
    playbook: Playbook,
    text: str,
    *,
    prior: str | None,
    context: CallContext,
) -> LanguageAnswer:
    """The message's language through the ``detect_language`` route: the local detector (with the contact's
    known language as the prior), else the routed tier choosing among the playbook's languages."""
    from nightcrew.intelligence.language import detect_language as detect_locally

    guesses: list[Any] = []

    def local() -> Classification:
        guess = detect_locally(text, playbook.languages, prior=prior, default=playbook.business.default_language)
        guesses.append(guess)
        return Classification(label=guess.language, confidence=guess.confidence, reason=f"source {guess.source}")

    labels: dict[str, str] = {str(code): LANGUAGE_NAMES.get(code, code) for code in playbook.languages}
    history = [f"the contact usually writes in {LANGUAGE_NAMES.get(prior, prior)}"] if prior else []
    cascade = router.classify(
        "detect_language", text, labels=labels, local=local, history=history, context=context, must_answer=True
    )
    final = cascade.final
    if final.source == "local":
        guess = guesses[-1]
        language, confidence, source = guess.language, guess.confidence, guess.source
    else:
        language, confidence, source = final.value.label, final.value.confidence, f"model {final.model}"
    return LanguageAnswer(
        language=language,
        confidence=confidence,
        source=source,
        routing=_routing(final, escalated=cascade.escalated),
        records=cascade.records,
    )


@dataclass(frozen=True)
class Turn:
    """One message of a conversation: who wrote it and what it said."""

    author: str  # "contact" or "us"
    text: str


def local_summary(
    turns: Sequence[Turn],
    *,
    name: str | None,
    intent: str,
    intent_confidence: float | None,
    language: str,
    segment: str | None,
    stage: str | None,
    team: str | None,
) -> Summary:
    """An extractive summary for the team: who, what they want, where they are, their latest words and ours."""
    who = name or "The contact"
    facts = ", ".join(p for p in (f"segment {segment}" if segment else "", f"stage {stage}" if stage else "") if p)
    wants = f"intent {intent}" + (f" ({intent_confidence:.2f})" if intent_confidence is not None else "")
    parts = [
        f"{who}{f' ({facts})' if facts else ''} wrote in {LANGUAGE_NAMES.get(language, language)}: {wants}"
        + (f", for {team}" if team else "")
        + "."
    ]
    theirs = [t.text for t in turns if t.author == "contact"][-3:]
    if theirs:
        parts.append("Their latest: " + "; ".join(f"“{_quote(t)}”" for t in theirs) + ".")
    ours = [t.text for t in turns if t.author == "us"]
    if ours:
        parts.append(f"Our last message: “{_quote(ours[-1])}”.")
    else:
        parts.append("We have not written to them yet.")
    return Summary(summary=" ".join(parts))


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _QUOTE_CHARS else flat[: _QUOTE_CHARS - 1].rstrip() + "…"


def summarise_conversation(
    router: ModelRouter,
    turns: Sequence[Turn],
    *,
    language: str,
    local: Summary,
    context: CallContext,
) -> tuple[str, dict[str, Any], tuple[CallRecord, ...]]:
    """A short summary through the ``summarise`` route: ``local`` on the local tier, an LLM's on a network tier."""
    recent = [f"{t.author}: {t.text}" for t in turns[-_RECENT_TURNS:]]
    routed = router.summarise(recent, language=language, local=lambda: local, context=context, must_answer=True)
    return routed.value.summary, _routing(routed), routed.records
