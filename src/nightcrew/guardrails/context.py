"""What the checks know about a draft: the contact, the conversation, the channel and the instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from nightcrew.guardrails.policy import ChannelKind, Language

Purpose = Literal["outreach", "reply", "followup", "confirmation", "opt_out_confirmation"]
ConsentStatus = Literal["opted_in", "unknown", "opted_out"]
DraftSource = Literal["llm", "template", "human"]

_LANGUAGE_NAMES = {
    "es": "es", "spa": "es", "spanish": "es", "espanol": "es", "español": "es", "castellano": "es",
    "pt": "pt", "por": "pt", "portuguese": "pt", "portugues": "pt", "português": "pt",
    "en": "en", "eng": "en", "english": "en", "ingles": "en", "inglés": "en",
}  # fmt: skip
_CONSENT_NAMES: dict[str, ConsentStatus] = {
    "opted_in": "opted_in", "opt_in": "opted_in", "optin": "opted_in", "granted": "opted_in", "yes": "opted_in",
    "subscribed": "opted_in", "true": "opted_in", "unknown": "unknown", "": "unknown", "none": "unknown",
    "opted_out": "opted_out", "opt_out": "opted_out", "optout": "opted_out", "revoked": "opted_out",
    "unsubscribed": "opted_out", "stop": "opted_out", "no": "opted_out", "false": "opted_out",
}  # fmt: skip


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContactInfo(_Frozen):
    """The contact a draft is for, as far as the checks need it."""

    id: str | None = None
    name: str | None = None
    language: Language | None = None
    timezone: str | None = None
    phone: str | None = None
    email: str | None = None
    location: str | None = None
    consent: ConsentStatus = "unknown"
    opted_out_at: AwareDatetime | None = None

    @field_validator("language", mode="before")
    @classmethod
    def _language_code(cls, value: Any) -> Any:
        # "es-MX", "pt_BR" and "Spanish" all name a language the checks know.
        if isinstance(value, str):
            key = value.strip().lower().replace("_", "-").split("-")[0]
            return _LANGUAGE_NAMES.get(key, value) if key else None
        return value

    @field_validator("consent", mode="before")
    @classmethod
    def _consent_word(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "opted_in" if value else "opted_out"
        if value is None:
            return "unknown"
        if isinstance(value, str):
            return _CONSENT_NAMES.get(value.strip().lower().replace("-", "_").replace(" ", "_"), value)
        return value


class SentMessage(_Frozen):
    """One outbound message already sent to the contact."""

    at: AwareDatetime
    channel: ChannelKind


class Confidence(_Frozen):
    """How sure the intelligence layer was; None when it was not asked."""

    segment: float | None = Field(default=None, ge=0.0, le=1.0)
    intent: float | None = Field(default=None, ge=0.0, le=1.0)
    draft: float | None = Field(default=None, ge=0.0, le=1.0)


class Draft(_Frozen):
    """The message to check."""

    text: str
    # The provider-approved template it was rendered from (WhatsApp outside the 24-hour window).
    template: str | None = None
    # The product the message is about, when the composer knows it: prices in it are checked against it.
    product: str | None = None


class GuardrailContext(_Frozen):
    """Everything about the moment of sending that the checks read; nothing here is fetched by them."""

    now: AwareDatetime
    channel: ChannelKind
    purpose: Purpose = "outreach"
    contact: ContactInfo = Field(default_factory=ContactInfo)
    recent_sends: tuple[SentMessage, ...] = ()
    last_inbound_text: str | None = None
    last_inbound_at: AwareDatetime | None = None
    draft_source: DraftSource = "llm"
    confidence: Confidence = Field(default_factory=Confidence)
    # Facts known for this conversation (the booked trial time) that a draft may state besides the playbook's.
    facts: tuple[str, ...] = ()

    def at(self, instant: datetime) -> GuardrailContext:
        """The same context at another instant (the pipeline re-checks a deferred send there)."""
        return self.model_copy(update={"now": instant})
