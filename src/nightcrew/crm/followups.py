"""Follow-up rules: why a lead went cold, and what stops a sequence (pure functions over its history)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from nightcrew.playbook.schemas import ColdReason, Playbook, StopCause

BOOKED_KINDS = {"booked"}
CANCELLED_KINDS = {"cancelled", "no_show"}
FINAL_KINDS = {"won", "lost"}


@dataclass(frozen=True)
class StageMove:
    """A stage change in the contact's history."""

    to_stage: str
    at: datetime


@dataclass(frozen=True)
class ColdDiagnosis:
    """Why the lead went cold, and the evidence for it."""

    reason: ColdReason
    evidence: dict[str, object]


def diagnose(
    playbook: Playbook, *, stages: Sequence[StageMove], intents: Sequence[tuple[str, datetime]], replied: bool
) -> ColdDiagnosis:
    """booked_cancelled if the history shows a booking then a cancellation or no-show; interested_not_booked if
    the contact asked with interest; else no_response."""
    kinds = [(move, playbook.stage_kind(move.to_stage)) for move in stages]
    booked_at = next((m.at for m, kind in kinds if kind in BOOKED_KINDS), None)
    if booked_at is not None:
        cancelled = [(m, kind) for m, kind in kinds if kind in CANCELLED_KINDS and m.at >= booked_at]
        if cancelled:
            move, kind = cancelled[-1]
            return ColdDiagnosis(
                "booked_cancelled",
                {
                    "booked_at": booked_at.isoformat(),
                    "then": move.to_stage,
                    "kind": kind,
                    "at": move.at.isoformat(),
                },
            )
    interested = [(intent, at) for intent, at in intents if intent in playbook.followup.interest_intents]
    if interested:
        return ColdDiagnosis(
            "interested_not_booked",
            {
                "asked": sorted({intent for intent, _ in interested}),
                "last_asked_at": interested[-1][1].isoformat(),
            },
        )
    evidence: dict[str, object] = {"replies": len(intents)}
    if replied:
        evidence["note"] = "replied without showing interest: " + ", ".join(sorted({i for i, _ in intents}))
    return ColdDiagnosis("no_response", evidence)


def stop_cause(
    playbook: Playbook,
    *,
    consent: str,
    human_takeover: bool,
    stage: str,
    last_inbound_at: datetime | None,
    since: datetime,
    allowed: Sequence[StopCause],
) -> tuple[StopCause, str] | None:
    """The first reason (among those the step exits on) to stop the sequence now, with its explanation."""
    kind = playbook.stage_kind(stage)
    checks: list[tuple[StopCause, bool, str]] = [
        ("opt_out", consent == "opted_out", "the contact opted out"),
        ("human", human_takeover, "a person took over the conversation"),
        ("booking", kind in BOOKED_KINDS, f"the contact booked (stage {stage})"),
        ("won_lost", kind in FINAL_KINDS, f"the lead is {kind} (stage {stage})"),
        (
            "reply",
            last_inbound_at is not None and last_inbound_at > since,
            f"the contact replied at {last_inbound_at.isoformat() if last_inbound_at else ''}",
        ),
    ]
    for cause, hit, why in checks:
        if hit and cause in allowed:
            return cause, why
    return None
