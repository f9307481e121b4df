"""How the sample business's contacts react to messages. The simulation knows this; the agent does not.

Each contact carries a latent truth from the history generator (whether the family would enrol). The
chance of a reply, its intent, a booking, a cancellation or an opt-out depends on that truth, on how well the
segment the agent chose suits it (SEGMENT_FIT), and on the message: first outreach, an answer, or a follow-up path
(one per cold reason).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from nightcrew.intelligence.intents import bundled_split

# Reply chance per message kind, for a family that would not enrol; enrolling families reply more.
REPLY_BASE = {"outreach": 0.42, "reply": 0.35, "confirmation": 0.1}
PATH_REPLY = {"gentle_nudge": 0.16, "objection_then_link": 0.24, "reschedule_offer": 0.33}
ENROL_LIFT = 1.7
OPT_OUT = {"outreach": 0.015, "reply": 0.01, "followup": 0.035}
# What a reply asks, by message kind and latent truth.
INTENTS_AFTER_OUTREACH = {
    True: {"booking": 0.34, "pricing": 0.24, "schedule": 0.2, "program_info": 0.14, "human": 0.05, "other": 0.03},
    False: {
        "pricing": 0.3,
        "program_info": 0.22,
        "schedule": 0.14,
        "not_interested": 0.16,
        "other": 0.1,
        "human": 0.05,
        "complaint": 0.03,
    },
}
INTENTS_AFTER_FOLLOWUP = {
    "gentle_nudge": {"program_info": 0.3, "pricing": 0.3, "booking": 0.2, "not_interested": 0.2},
    "objection_then_link": {"booking": 0.45, "pricing": 0.2, "schedule": 0.15, "not_interested": 0.2},
    "reschedule_offer": {"reschedule": 0.55, "booking": 0.2, "cancel": 0.1, "not_interested": 0.15},
}
BOOK_AFTER_ANSWER = {True: 0.55, False: 0.08}
# How well the segment's copy suits the family (latent truth -> segment -> reply multiplier): an invitation straight
# to a trial class works on families ready to enrol and puts off the merely curious; a light touch the other way.
SEGMENT_FIT = {
    True: {"hot": 1.3, "warm": 1.0, "cold": 0.75},
    False: {"hot": 0.8, "warm": 1.0, "cold": 1.15},
}
CANCEL_AFTER_BOOKING = {True: 0.12, False: 0.4}


@dataclass
class Persona:
    """One simulated contact and what it has done so far."""

    external_id: str
    language: str
    enrols: bool
    booked: bool = False
    cancelled: bool = False
    opted_out: bool = False
    replies: int = 0
    last_intent: str | None = None


@dataclass
class Reaction:
    """An event the contact will cause, at a time."""

    at: datetime
    event: dict[str, Any]


@dataclass
class Behaviour:
    """Draws reactions; reply texts come from held-out examples written natively in each language."""

    rng: random.Random
    texts: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    counter: int = 0

    def __post_init__(self) -> None:
        if not self.texts:
            by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
            _, held_out = bundled_split(seed=1)
            for example in held_out:
                by_key[(example.language or "es", example.intent)].append(example.text)
            self.texts = dict(by_key)

    def _text(self, language: str, intent: str) -> str:
        options = self.texts.get((language, intent)) or self.texts.get(("es", intent)) or ["ok"]
        return self.rng.choice(options)

    def _pick(self, weights: dict[str, float]) -> str:
        names = list(weights)
        return self.rng.choices(names, weights=[weights[n] for n in names])[0]

    def _delay(self, median_hours: float) -> timedelta:
        return timedelta(hours=min(96.0, self.rng.lognormvariate(0.0, 0.9) * median_hours))

    def _message_event(self, persona: Persona, at: datetime, intent: str) -> Reaction:
        self.counter += 1
        persona.replies += 1
        persona.last_intent = intent
        return Reaction(
            at,
            {
                "id": f"demo-in-{self.counter:06d}",
                "type": "message.received",
                "occurred_at": at.isoformat(),
                "contact": {"external_id": persona.external_id},
                "data": {"channel": "whatsapp", "text": self._text(persona.language, intent)},
            },
        )

    def _stage_event(self, persona: Persona, at: datetime, stage: str) -> Reaction:
        self.counter += 1
        return Reaction(
            at,
            {
                "id": f"demo-crm-{self.counter:06d}",
                "type": "stage.changed",
                "occurred_at": at.isoformat(),
                "contact": {"external_id": persona.external_id},
                "data": {"to": stage, "reason": "calendar"},
            },
        )

    def react(self, persona: Persona, message: dict[str, Any], sent_at: datetime) -> list[Reaction]:
        """What the contact does after receiving ``message`` (possibly nothing)."""
        if persona.opted_out:
            return []
        purpose, path = str(message["purpose"]), message.get("path")
        reactions: list[Reaction] = []
        if purpose in ("opt_out_confirmation",):
            return []
        if self.rng.random() < OPT_OUT.get(purpose, 0.01):
            persona.opted_out = True
            return [self._message_event(persona, sent_at + self._delay(1.0), "opt_out")]
        if purpose == "reply" and persona.last_intent in ("pricing", "schedule", "program_info", "human"):
            if not persona.booked and self.rng.random() < BOOK_AFTER_ANSWER[persona.enrols]:
                return [self._message_event(persona, sent_at + self._delay(3.0), "booking")]
            if not persona.enrols and self.rng.random() < 0.25:
                return [self._message_event(persona, sent_at + self._delay(4.0), "not_interested")]
            return []
        if purpose == "reply" and persona.last_intent in ("booking", "reschedule") and not persona.booked:
            # The booking link was in our answer: the family picks a slot in the calendar.
            persona.booked = True
            booked_at = sent_at + self._delay(2.0)
            reactions.append(self._stage_event(persona, booked_at, "trial_booked"))
            if self.rng.random() < CANCEL_AFTER_BOOKING[persona.enrols]:
                persona.cancelled = True
                stage = self.rng.choice(["trial_cancelled", "no_show"])
                reactions.append(self._stage_event(persona, booked_at + timedelta(days=self.rng.uniform(1, 3)), stage))
                persona.booked = False
            elif persona.enrols and self.rng.random() < 0.8:
                reactions.append(
                    self._stage_event(persona, booked_at + timedelta(days=self.rng.uniform(3, 6)), "enrolled")
                )
            return reactions
        base = PATH_REPLY.get(str(path), 0.15) if purpose == "followup" else REPLY_BASE.get(purpose, 0.2)
        segment = str(message.get("segment") or "warm")
        fit = SEGMENT_FIT[persona.enrols].get(segment, 1.0)
        chance = min(0.95, base * fit * (ENROL_LIFT if persona.enrols else 0.75))
        if self.rng.random() >= chance:
            return []
        if purpose == "followup":
            intent = self._pick(INTENTS_AFTER_FOLLOWUP.get(str(path), INTENTS_AFTER_FOLLOWUP["gentle_nudge"]))
        else:
            intent = self._pick(INTENTS_AFTER_OUTREACH[persona.enrols])
        return [self._message_event(persona, sent_at + self._delay(2.5), intent)]
