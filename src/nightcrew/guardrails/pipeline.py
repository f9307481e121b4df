"""The policy pipeline: every check in a fixed order, revise fixes re-checked, the strongest verdict wins.

Order (each check sees the text as revised so far; all run, so the audit log has every reason):

 1. consent     an opted-out contact gets nothing but the single confirmation
 2. injection   an inbound message that tries to instruct the agent is flagged first
 3. confidence  low segment / intent / draft-quality confidence goes to a person
 4. privacy     no other person's data, no secrets, links only to allowed domains
 5. prices      every amount is on the price list for product, currency and place
 6. claims      no unapproved discount, guarantee, result, availability or date; no forbidden phrase
 7. language    the draft is in the contact's language
 8. channel     SMS segments (may revise by trimming), WhatsApp window and templates
 9. caps        per-contact frequency caps (may defer)
10. hours       the contact's allowed local hours (may defer)

A ``revise`` verdict's text replaces the draft and every check runs again, at most
``max_revisions`` times. A ``defer`` is re-checked at the instant it names until every
time-dependent check agrees, so the final ``until`` is inside allowed hours and under the caps.
Strength: block > review > defer > revise > pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from nightcrew.guardrails.caps import check_caps
from nightcrew.guardrails.channel_limits import check_channel
from nightcrew.guardrails.claims import check_claims
from nightcrew.guardrails.consent import check_consent, detect_opt_out
from nightcrew.guardrails.context import Draft, GuardrailContext
from nightcrew.guardrails.hours import check_hours
from nightcrew.guardrails.injection import check_injection
from nightcrew.guardrails.language import check_language
from nightcrew.guardrails.places import resolve_country, resolve_timezone
from nightcrew.guardrails.policy import PolicySet
from nightcrew.guardrails.prices import check_prices
from nightcrew.guardrails.privacy import check_privacy
from nightcrew.guardrails.verdict import SEVERITY, Verdict, VerdictKind

CHECK_ORDER: tuple[str, ...] = (
    "consent", "injection", "confidence", "privacy", "prices", "claims", "language", "channel", "caps", "hours",
)  # fmt: skip
_DEFER_SETTLE_ROUNDS = 8

Check = Callable[[Draft, str, GuardrailContext, PolicySet], Verdict]


def check_confidence(context: GuardrailContext, policy: PolicySet) -> Verdict:
    """Review when the segment, intent or draft-quality confidence is under its threshold."""
    floors = {
        "segment": policy.segment_threshold,
        "intent": policy.intent_threshold,
        "draft quality": policy.guardrails.confidence.draft_quality,
    }
    values = {
        "segment": context.confidence.segment,
        "intent": context.confidence.intent,
        "draft quality": context.confidence.draft,
    }
    low = [
        f"{name} confidence {value:.2f} < {floors[name]:.2f}"
        for name, value in values.items()
        if value is not None and value < floors[name]
    ]
    if low:
        return Verdict.review("confidence", "; ".join(low))
    known = [f"{name} {value:.2f}" for name, value in values.items() if value is not None]
    return Verdict.passed(
        "confidence", ", ".join(known) + " at or above thresholds" if known else "no confidence values given"
    )


def _country(context: GuardrailContext) -> str | None:
    return resolve_country(context.contact.location, context.contact.phone)


def _is_fresh_reply(context: GuardrailContext, policy: PolicySet) -> bool:
    inbound = context.last_inbound_at
    window = timedelta(minutes=policy.hours.reply_window_minutes)
    return inbound is not None and timedelta(0) <= context.now - inbound <= window


def _consent(draft: Draft, text: str, context: GuardrailContext, policy: PolicySet) -> Verdict:
    return check_consent(text, context, policy.guardrails.consent)


def _injection(draft: Draft, text: str, context: GuardrailContext, policy: PolicySet) -> Verdict:
    return check_injection(text, context, policy.guardrails.injection)


def _confidence(draft: Draft, text: str, context: GuardrailContext, policy: PolicySet) -> Verdict:
    return check_confidence(context, policy)


def _privacy(draft: Draft, text: str, context: GuardrailContext, policy: PolicySet) -> Verdict:
    return check_privacy(text, context.contact, policy.guardrails.privacy, link_domains=policy.link_domains())


def _prices(draft: Draft, text: str, context: GuardrailContext, policy: PolicySet) -> Verdict:
    return check_prices(text, policy.prices, _country(context), product_hint=draft.product)


def _claims(draft: Draft, text: str, context: GuardrailContext, policy: PolicySet) -> Verdict:
    return check_claims(
        text, policy, context_facts=context.facts, inbound=context.last_inbound_text, product_hint=draft.product
    )


def _language(draft: Draft, text: str, context: GuardrailContext, policy: PolicySet) -> Verdict:
    contact = context.contact
    strip = [policy.business_name, *(contact.name or "").split()]
    return check_language(text, contact.language, policy.guardrails.language, strip=strip)


def _channel(draft: Draft, text: str, context: GuardrailContext, policy: PolicySet) -> Verdict:
    return check_channel(draft, text, context, policy.guardrails.channels)


def _caps(draft: Draft, text: str, context: GuardrailContext, policy: PolicySet) -> Verdict:
    exempt = None
    if context.purpose == "opt_out_confirmation" or detect_opt_out(
        context.last_inbound_text, policy.guardrails.consent
    ):
        exempt = "an opt-out confirmation"
    elif policy.guardrails.caps.exempt_replies and _is_fresh_reply(context, policy):
        exempt = "a reply to a message the contact just sent"
    return check_caps(context.now, context.channel, context.recent_sends, policy.guardrails.caps, exempt=exempt)


def _hours(draft: Draft, text: str, context: GuardrailContext, policy: PolicySet) -> Verdict:
    contact = context.contact
    if context.purpose == "opt_out_confirmation":
        return Verdict.passed("hours", "an opt-out confirmation goes out at once")
    zone, source = resolve_timezone(contact.timezone, contact.location, contact.phone, policy.hours.default_timezone)
    try:
        verdict = check_hours(
            context.now, zone, policy.hours, _country(context), last_inbound_at=context.last_inbound_at
        )
    except ValueError as exc:
        # A playbook with no sending window ahead: nothing can be scheduled, so a person decides.
        return Verdict.review("hours", str(exc))
    if source != "contact":
        return Verdict(verdict.kind, verdict.check, f"{verdict.reason} (timezone from {source})", verdict.until)
    return verdict


CHECKS: dict[str, Check] = {
    "consent": _consent, "injection": _injection, "confidence": _confidence, "privacy": _privacy,
    "prices": _prices, "claims": _claims, "language": _language, "channel": _channel, "caps": _caps,
    "hours": _hours,
}  # fmt: skip
_TIME_DEPENDENT = ("consent", "channel", "caps", "hours")


@dataclass(frozen=True)
class GuardrailOutcome:
    """What the pipeline decided: the final verdict, the text to send and every verdict on the way."""

    kind: VerdictKind
    text: str
    original_text: str
    until: datetime | None
    # The last round's verdicts, one per check in CHECK_ORDER.
    verdicts: tuple[Verdict, ...]
    # Every verdict of every round (revisions and deferral re-checks included), in order: the audit trail.
    history: tuple[Verdict, ...]
    revisions: tuple[Verdict, ...] = ()

    @property
    def revised(self) -> bool:
        """Whether the text to send differs from the draft."""
        return self.text != self.original_text

    @property
    def decisive(self) -> tuple[Verdict, ...]:
        """The verdicts that made the final decision."""
        if self.kind is VerdictKind.REVISE:
            return self.revisions
        return tuple(v for v in self.verdicts if v.kind is self.kind)

    @property
    def checks(self) -> tuple[str, ...]:
        """Names of the checks behind the final decision."""
        return tuple(dict.fromkeys(v.check for v in self.decisive))

    @property
    def reasons(self) -> list[str]:
        """'check: reason' for every verdict that was not a pass, strongest first, fixes applied included."""
        pending = sorted((v for v in self.verdicts if v.kind is not VerdictKind.PASS), key=lambda v: -v.severity)
        return [f"{v.check}: {v.reason}" for v in (*pending, *self.revisions)]

    def to_dict(self) -> dict[str, object]:
        """The bulk command's output line: verdict, reasons, until when deferred, text when revised."""
        out: dict[str, object] = {"verdict": self.kind.value, "reasons": self.reasons}
        if self.until is not None:
            out["until"] = self.until.isoformat()
        if self.revised:
            out["text"] = self.text
        return out


def _evaluate(
    draft: Draft, text: str, context: GuardrailContext, policy: PolicySet, names: tuple[str, ...]
) -> list[Verdict]:
    return [CHECKS[name](draft, text, context, policy) for name in names]


def _strongest(verdicts: list[Verdict]) -> VerdictKind:
    return max((v.kind for v in verdicts), key=SEVERITY.__getitem__, default=VerdictKind.PASS)


def run_guardrails(draft: Draft | str, context: GuardrailContext, policy: PolicySet) -> GuardrailOutcome:
    """Run every check in CHECK_ORDER, apply revise fixes and re-check, and return the strongest verdict."""
    draft = Draft(text=draft) if isinstance(draft, str) else draft
    text = draft.text
    history: list[Verdict] = []
    revisions: list[Verdict] = []
    verdicts = _evaluate(draft, text, context, policy, CHECK_ORDER)
    history += verdicts
    while True:
        strongest = _strongest(verdicts)
        fix = next((v for v in verdicts if v.kind is VerdictKind.REVISE and v.text is not None), None)
        if fix is None or strongest in (VerdictKind.BLOCK, VerdictKind.REVIEW):
            break
        if len(revisions) >= policy.guardrails.max_revisions:
            stuck = Verdict.review(fix.check, f"still needs revising after {len(revisions)} fix(es): {fix.reason}")
            verdicts = [stuck if v is fix else v for v in verdicts]
            history.append(stuck)
            break
        assert fix.text is not None
        revisions.append(fix)
        text = fix.text
        verdicts = _evaluate(draft, text, context, policy, CHECK_ORDER)
        history += verdicts
    kind = _strongest(verdicts)
    until: datetime | None = None
    if kind is VerdictKind.DEFER:
        verdicts, until, extra = _settle_deferral(draft, text, context, policy, verdicts)
        history += extra
        kind = _strongest(verdicts)
        if kind is not VerdictKind.DEFER:
            until = None
    if kind is VerdictKind.PASS and revisions:
        kind = VerdictKind.REVISE
    return GuardrailOutcome(kind, text, draft.text, until, tuple(verdicts), tuple(history), tuple(revisions))


def _settle_deferral(
    draft: Draft, text: str, context: GuardrailContext, policy: PolicySet, verdicts: list[Verdict]
) -> tuple[list[Verdict], datetime | None, list[Verdict]]:
    """Move to the latest deferral and re-check the time-dependent checks there until they all pass."""
    extra: list[Verdict] = []
    candidate = max(v.until for v in verdicts if v.kind is VerdictKind.DEFER and v.until is not None)
    for _ in range(_DEFER_SETTLE_ROUNDS):
        later = _evaluate(draft, text, context.at(candidate), policy, _TIME_DEPENDENT)
        extra += later
        blocking = [v for v in later if v.kind in (VerdictKind.BLOCK, VerdictKind.REVIEW)]
        pending = [v.until for v in later if v.kind is VerdictKind.DEFER and v.until is not None]
        if blocking:
            # At the deferred instant the send is no longer allowed at all (e.g. WhatsApp's window has closed).
            moved = {
                v.check: Verdict(
                    v.kind, v.check, f"when deferred to {candidate.isoformat()}: {v.reason}", evidence=v.evidence
                )
                for v in blocking
            }
            return [moved.get(v.check, v) for v in verdicts], None, extra
        if not pending or max(pending) <= candidate:
            return verdicts, candidate, extra
        candidate = max(pending)
    stuck = Verdict.review("hours", f"no send time satisfies hours and caps after {_DEFER_SETTLE_ROUNDS} tries")
    return [*verdicts, stuck], None, [*extra, stuck]
