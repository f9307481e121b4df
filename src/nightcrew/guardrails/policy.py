"""Policy settings the guardrail checks read; the playbook embeds them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from nightcrew.playbook.schemas import Playbook

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class StrictModel(BaseModel):
    """Reject unknown keys: a typo in the playbook is an error, not a silently ignored rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeWindow(StrictModel):
    """An allowed interval within one local day, start inclusive, end exclusive."""

    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} must be after start {self.start}")
        return self

    @classmethod
    def parse(cls, text: str) -> TimeWindow:
        """Read '09:00-20:00'."""
        match = _WINDOW.match(text.strip())
        if not match:
            raise ValueError(f"expected a window like '09:00-20:00', got {text!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        end = time(23, 59, 59) if (h2, m2) == (24, 0) else time(h2, m2)
        return cls(start=time(h1, m1), end=end)


class HolidayPolicy(StrictModel):
    """Public holidays (from the `holidays` package) in the contact's country count as closed days."""

    enabled: bool = False
    default_country: str | None = None


class HoursPolicy(StrictModel):
    """When outbound messages may reach a contact, in the contact's local time."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:6]))
    start: time = time(9, 0)
    end: time = time(20, 0)
    # Per-day windows override days/start/end for that day: {"sat": ["10:00-14:00"], "sun": []}.
    windows: dict[Weekday, list[str]] = Field(default_factory=dict)
    default_timezone: str = "America/Mexico_City"
    holidays: HolidayPolicy = Field(default_factory=HolidayPolicy)
    # A reply to a message the contact sent within this many minutes is conversation, not outreach.
    reply_window_minutes: int = Field(default=30, ge=0, le=24 * 60)

    @field_validator("windows")
    @classmethod
    def _windows_parse(cls, value: dict[Weekday, list[str]]) -> dict[Weekday, list[str]]:
        for day, spans in value.items():
            for span in spans:
                try:
                    TimeWindow.parse(span)
                except ValueError as exc:
                    raise ValueError(f"{day}: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _ordered(self) -> HoursPolicy:
        if self.end <= self.start:
            raise ValueError(f"hours end {self.end} must be after start {self.start}")
        return self

    def windows_for(self, day: Weekday) -> list[TimeWindow]:
        """The allowed windows on a weekday."""
        if day in self.windows:
            return [TimeWindow.parse(span) for span in self.windows[day]]
        if day in self.days:
            return [TimeWindow(start=self.start, end=self.end)]
        return []


Language = Literal["es", "pt", "en"]
ChannelKind = Literal["sms", "whatsapp", "email"]
PricePeriod = Literal["month", "year", "week", "class", "once"]
Escalation = Literal["block", "review"]

CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
_NAME = r"^[a-z][a-z0-9_]*$"


class ProductPrice(StrictModel):
    """One listed amount: a currency, and the countries it is quoted in (none = everywhere else)."""

    currency: CurrencyCode | None = None
    amount: Decimal = Field(ge=0)
    locations: list[CountryCode] = Field(default_factory=list)

    @model_validator(mode="after")
    def _currency_for_paid(self) -> ProductPrice:
        # Zero is zero in every currency; any other amount means nothing without one.
        if self.amount > 0 and self.currency is None:
            raise ValueError(f"amount {self.amount} needs a currency")
        return self


class Product(StrictModel):
    """Something the business sells, the words that name it in a message, and its prices."""

    name: str = Field(pattern=_NAME)
    period: PricePeriod | None = None
    keywords: dict[Language, list[str]] = Field(default_factory=dict)
    amounts: list[ProductPrice] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_price_per_place(self) -> Product:
        seen: set[tuple[str | None, str]] = set()
        for entry in self.amounts:
            for place in entry.locations or ["*"]:
                key = (entry.currency, place)
                if key in seen:
                    where = "everywhere else" if place == "*" else place
                    raise ValueError(f"{self.name}: two {entry.currency} prices for {where}")
                seen.add(key)
        return self

    def prices_for(self, country: str | None) -> list[ProductPrice]:
        """The amounts quoted to a contact in ``country`` (all of them when it is unknown)."""
        if country is None:
            return list(self.amounts)
        local = [p for p in self.amounts if country in p.locations]
        return local or [p for p in self.amounts if not p.locations]

    def is_free(self, country: str | None) -> bool:
        """Whether every amount quoted to ``country`` is zero."""
        prices = self.prices_for(country)
        return bool(prices) and all(p.amount == 0 for p in prices)

    def terms(self) -> list[str]:
        """Every keyword in every language, or the product name when none are listed."""
        words = [w for per_language in self.keywords.values() for w in per_language]
        return words or [self.name.replace("_", " ")]


class PriceList(StrictModel):
    """The only prices a message may state, per product x currency x location."""

    products: list[Product] = Field(default_factory=list)
    # What happens to an amount that is not listed, and to one whose currency cannot be told.
    on_unlisted: Escalation = "block"
    on_ambiguous: Escalation = "review"

    @field_validator("products")
    @classmethod
    def _unique_names(cls, value: list[Product]) -> list[Product]:
        names = [p.name for p in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"product names must be unique: {duplicates}")
        return value

    def product(self, name: str) -> Product | None:
        """The product called ``name``, or None."""
        return next((p for p in self.products if p.name == name), None)

    def currencies_for(self, country: str | None) -> set[str]:
        """Every currency some product is quoted in for ``country``."""
        return {p.currency for product in self.products for p in product.prices_for(country) if p.currency}


class Offer(StrictModel):
    """An approved discount: its percentage and the words that state its condition."""

    name: str = Field(pattern=_NAME)
    percent: Decimal | None = Field(default=None, gt=0, le=100)
    keywords: dict[Language, list[str]] = Field(default_factory=dict)
    description: str = ""


class ClaimsPolicy(StrictModel):
    """Promises a message may make: the playbook facts, these claims and offers, nothing else."""

    offers: list[Offer] = Field(default_factory=list)
    # Sentences a message may state beyond the playbook facts (a guarantee the business really gives).
    approved: dict[Language, list[str]] = Field(default_factory=dict)
    # Never in a message, whatever the context, matched without accents or case.
    forbidden: dict[Language, list[str]] = Field(default_factory=dict)
    on_unapproved: Escalation = "block"


class ConsentPolicy(StrictModel):
    """Opt-outs and the channels that need an explicit opt-in before any outreach."""

    require_opt_in: list[ChannelKind] = Field(default_factory=list)
    # Extra whole-message keywords and in-message phrases that mean "stop messaging me".
    opt_out_keywords: list[str] = Field(default_factory=list)
    opt_out_phrases: list[str] = Field(default_factory=list)
    confirmation_max_chars: int = Field(default=320, ge=40)


def _per_channel(sms: int, whatsapp: int, email: int) -> dict[ChannelKind, int]:
    return {"sms": sms, "whatsapp": whatsapp, "email": email}


class CapsPolicy(StrictModel):
    """How many outbound messages a contact may get in a rolling day and week, per channel and in total."""

    per_day: dict[ChannelKind, int] = Field(default_factory=lambda: _per_channel(2, 3, 2))
    per_week: dict[ChannelKind, int] = Field(default_factory=lambda: _per_channel(5, 8, 4))
    per_day_total: int | None = Field(default=4, ge=1)
    per_week_total: int | None = Field(default=12, ge=1)
    # Answering a message the contact just sent is conversation, not another unsolicited touch.
    exempt_replies: bool = True

    @field_validator("per_day", "per_week")
    @classmethod
    def _positive(cls, value: dict[ChannelKind, int]) -> dict[ChannelKind, int]:
        bad = {k: v for k, v in value.items() if v < 1}
        if bad:
            raise ValueError(f"caps must be at least 1 (leave a channel out for no cap): {bad}")
        return value


class LanguagePolicy(StrictModel):
    """The draft's language must be the contact's; short drafts are not judged."""

    min_words: int = Field(default=5, ge=1)
    min_confidence: float = Field(default=0.6, ge=0.0, le=1.0)
    on_mismatch: Escalation = "review"


class SmsPolicy(StrictModel):
    """SMS length in segments (160 GSM-7 / 70 UCS-2 characters, 153 / 67 when split)."""

    max_segments: int = Field(default=3, ge=1, le=10)
    on_too_long: Literal["revise", "review", "block"] = "revise"
    # Curly quotes and dashes force UCS-2 and halve a segment; plain ones keep GSM-7.
    replace_typographic: bool = True


class WhatsAppPolicy(StrictModel):
    """WhatsApp Business rules: free-form text only inside the customer-service window."""

    enforce_session_window: bool = True
    session_hours: int = Field(default=24, ge=1, le=168)
    # Names of message templates the provider approved; usable outside the window.
    templates: list[str] = Field(default_factory=list)
    max_chars: int = Field(default=4096, ge=100)
    on_outside_window: Escalation = "block"


class ChannelLimitsPolicy(StrictModel):
    """Per-channel limits."""

    sms: SmsPolicy = Field(default_factory=SmsPolicy)
    whatsapp: WhatsAppPolicy = Field(default_factory=WhatsAppPolicy)


class PrivacyPolicy(StrictModel):
    """What personal data and links a draft may carry besides the contact's own."""

    # Links may only point here (subdomains included); the business website is always allowed.
    allowed_link_domains: list[str] = Field(default_factory=list)
    business_phones: list[str] = Field(default_factory=list)
    business_emails: list[str] = Field(default_factory=list)
    on_foreign_link: Escalation = "block"

    @field_validator("allowed_link_domains")
    @classmethod
    def _bare_domains(cls, value: list[str]) -> list[str]:
        cleaned = [d.strip().lower().removeprefix("www.") for d in value]
        bad = [d for d in cleaned if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", d)]
        if bad:
            raise ValueError(f"link domains are bare host names like 'example.com': {bad}")
        return cleaned


class InjectionPolicy(StrictModel):
    """Inbound text that tries to instruct the agent."""

    review_llm_drafts: bool = True
    # Extra phrases (matched without accents or case) that mark an inbound message as an injection.
    phrases: list[str] = Field(default_factory=list)


class ConfidencePolicy(StrictModel):
    """Confidence floors below which a person decides; None falls back to the playbook thresholds."""

    segment: float | None = Field(default=None, ge=0.0, le=1.0)
    intent: float | None = Field(default=None, ge=0.0, le=1.0)
    draft_quality: float = Field(default=0.0, ge=0.0, le=1.0)


class GuardrailPolicy(StrictModel):
    """The playbook's guardrail section: every check's settings."""

    claims: ClaimsPolicy = Field(default_factory=ClaimsPolicy)
    consent: ConsentPolicy = Field(default_factory=ConsentPolicy)
    caps: CapsPolicy = Field(default_factory=CapsPolicy)
    language: LanguagePolicy = Field(default_factory=LanguagePolicy)
    channels: ChannelLimitsPolicy = Field(default_factory=ChannelLimitsPolicy)
    privacy: PrivacyPolicy = Field(default_factory=PrivacyPolicy)
    injection: InjectionPolicy = Field(default_factory=InjectionPolicy)
    confidence: ConfidencePolicy = Field(default_factory=ConfidencePolicy)
    # How many times the pipeline applies a revise fix and re-checks before handing over to a person.
    max_revisions: int = Field(default=2, ge=0, le=5)

    def languages_used(self) -> set[str]:
        """Language keys this section mentions (the playbook checks they are ones it speaks)."""
        used: set[str] = set(self.claims.approved) | set(self.claims.forbidden)
        for offer in self.claims.offers:
            used |= set(offer.keywords)
        return used


def _first(value: float | None, fallback: float) -> float:
    return fallback if value is None else value


@dataclass(frozen=True)
class PolicySet:
    """Everything the checks read: the guardrail section, prices, hours and facts of one playbook."""

    guardrails: GuardrailPolicy = field(default_factory=GuardrailPolicy)
    prices: PriceList = field(default_factory=PriceList)
    hours: HoursPolicy = field(default_factory=HoursPolicy)
    # Approved facts per language: the claims a message may make about the business.
    facts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    business_name: str = ""
    # Host names of the business's own links (website, booking page): always allowed.
    business_domains: tuple[str, ...] = ()
    segment_threshold: float = 0.0
    intent_threshold: float = 0.0

    @classmethod
    def from_playbook(cls, playbook: Playbook) -> PolicySet:
        """Read the guardrail inputs out of a validated playbook."""
        urls = (playbook.business.website, playbook.business.booking_url)
        hosts = {str(url.host).lower().removeprefix("www.") for url in urls if url.host}
        confidence = playbook.guardrails.confidence
        return cls(
            guardrails=playbook.guardrails,
            prices=playbook.prices,
            hours=playbook.hours,
            facts={lang: tuple(items) for lang, items in playbook.facts.items()},
            business_name=playbook.business.name,
            business_domains=tuple(sorted(hosts)),
            segment_threshold=_first(confidence.segment, playbook.thresholds.segment_confidence),
            intent_threshold=_first(confidence.intent, playbook.thresholds.intent_confidence),
        )

    def link_domains(self) -> tuple[str, ...]:
        """Every host a link may point to."""
        return tuple(sorted(set(self.business_domains) | set(self.guardrails.privacy.allowed_link_domains)))

    def approved_texts(self) -> list[str]:
        """Playbook facts and approved claims in every language."""
        texts = [fact for items in self.facts.values() for fact in items]
        texts += [claim for items in self.guardrails.claims.approved.values() for claim in items]
        return texts
