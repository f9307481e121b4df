"""Channel limits: SMS segments (GSM-7 or UCS-2) and WhatsApp's customer-service window and templates."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from nightcrew.guardrails.context import Draft, GuardrailContext
from nightcrew.guardrails.policy import ChannelLimitsPolicy, SmsPolicy, WhatsAppPolicy
from nightcrew.guardrails.text import sentences
from nightcrew.guardrails.verdict import Verdict

CHECK = "channel"

# GSM 03.38 basic character set, and the extension table whose characters take two septets.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
_TYPOGRAPHIC = str.maketrans(
    {"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'", "–": "-", "—": "-",
     "…": "...", "•": "-", "\u00a0": " ", "\u202f": " ", "\u2009": " "}
)  # fmt: skip


@dataclass(frozen=True)
class SmsSize:
    """How an SMS is encoded and how many segments it takes."""

    encoding: Literal["GSM-7", "UCS-2"]
    units: int
    segments: int


def sms_size(text: str) -> SmsSize:
    """Encoding, length in septets (GSM-7) or UTF-16 units (UCS-2), and segment count."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        segments = 1 if units <= 160 else math.ceil(units / 153)
        return SmsSize("GSM-7", units, segments)
    units = len(text.encode("utf-16-le")) // 2
    segments = 1 if units <= 70 else math.ceil(units / 67)
    return SmsSize("UCS-2", units, segments)


def trim_to_segments(text: str, max_segments: int) -> str | None:
    """The longest run of whole leading sentences that fits; None when not even the first one does."""
    best: str | None = None
    for span in sentences(text):
        candidate = text[: span.end].rstrip()
        if sms_size(candidate).segments > max_segments:
            break
        best = candidate
    return best


def check_sms(text: str, policy: SmsPolicy) -> Verdict:
    """Pass an SMS within the segment limit; else fix typography, trim at a sentence, or escalate."""
    size = sms_size(text)
    if size.segments <= policy.max_segments:
        return Verdict.passed(CHECK, f"SMS {size.encoding}, {size.units} units, {size.segments} segment(s)")
    over = f"SMS is {size.segments} segments ({size.encoding}, {size.units} units), limit {policy.max_segments}"
    if policy.on_too_long == "revise":
        if policy.replace_typographic:
            plain = text.translate(_TYPOGRAPHIC)
            if plain != text and sms_size(plain).segments <= policy.max_segments:
                return Verdict.revise(CHECK, plain, f"{over}: typographic quotes and dashes made plain to fit GSM-7")
            text = plain if sms_size(plain).segments < size.segments else text
        trimmed = trim_to_segments(text, policy.max_segments)
        if trimmed is not None:
            kept = sms_size(trimmed)
            return Verdict.revise(
                CHECK,
                trimmed,
                f"{over}: trimmed at a sentence boundary to {kept.segments} segment(s), "
                f"{len(text) - len(trimmed)} characters cut",
            )
        return Verdict.review(CHECK, f"{over}; even its first sentence does not fit")
    if policy.on_too_long == "block":
        return Verdict.block(CHECK, over)
    return Verdict.review(CHECK, over)


def check_whatsapp(draft: Draft, text: str, context: GuardrailContext, policy: WhatsAppPolicy) -> Verdict:
    """Free-form WhatsApp text only inside the customer-service window; outside it, an approved template."""
    if len(text) > policy.max_chars:
        return Verdict.review(CHECK, f"WhatsApp message is {len(text)} characters, limit {policy.max_chars}")
    if not policy.enforce_session_window:
        return Verdict.passed(CHECK, "WhatsApp session window not enforced")
    inbound = context.last_inbound_at
    if inbound is not None and timedelta(0) <= context.now - inbound <= timedelta(hours=policy.session_hours):
        left = timedelta(hours=policy.session_hours) - (context.now - inbound)
        return Verdict.passed(CHECK, f"inside the {policy.session_hours}-hour window ({left} left)")
    if draft.template and draft.template in policy.templates:
        return Verdict.passed(
            CHECK, f"outside the {policy.session_hours}-hour window with approved template '{draft.template}'"
        )
    since = "the contact has never written" if inbound is None else f"the contact last wrote at {inbound.isoformat()}"
    what = f"template '{draft.template}' is not an approved one" if draft.template else "free-form text is not allowed"
    reason = f"outside WhatsApp's {policy.session_hours}-hour window ({since}): {what}"
    if policy.on_outside_window == "block":
        return Verdict.block(CHECK, reason, approved_templates=list(policy.templates))
    return Verdict.review(CHECK, reason)


def check_channel(draft: Draft, text: str, context: GuardrailContext, policy: ChannelLimitsPolicy) -> Verdict:
    """Apply the limits of the draft's channel."""
    if context.channel == "sms":
        return check_sms(text, policy.sms)
    if context.channel == "whatsapp":
        return check_whatsapp(draft, text, context, policy.whatsapp)
    return Verdict.passed(CHECK, "email has no length or window limits")
