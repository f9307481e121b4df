"""Which team an inbound conversation goes to: the playbook's rules, first match wins (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from nightcrew.playbook.schemas import Playbook

# A person asked for, or a complaint: these always reach a person, whatever the playbook's rules say.
ALWAYS_HUMAN = frozenset({"human", "complaint"})


@dataclass(frozen=True)
class TeamAssignment:
    """The team, the rule that matched (None = the default), why, and whether a person must see it."""

    team: str
    rule: int | None
    reason: str
    handoff: bool


def assign_team(
    playbook: Playbook, *, intent: str, segment: str | None, language: str, country: str | None
) -> TeamAssignment:
    """Match the conversation against the assignment rules in order."""
    assignment = playbook.assignment
    if assignment is None:
        team = playbook.teams[0].name if playbook.teams else "default"
        return TeamAssignment(team, None, "no assignment rules in the playbook: first team", intent in ALWAYS_HUMAN)
    always_human = intent in ALWAYS_HUMAN or intent in assignment.always_human
    for index, rule in enumerate(assignment.rules):
        conditions: list[tuple[list[str], str | None, str]] = [
            (rule.intents, intent, "intent"),
            (rule.segments, segment, "segment"),
            (list(rule.languages), language, "language"),
            (rule.countries, country, "country"),
        ]
        if all(not allowed or value in allowed for allowed, value, _ in conditions):
            matched = ", ".join(f"{name}={value}" for allowed, value, name in conditions if allowed)
            return TeamAssignment(
                rule.team, index, f"rule {index + 1} ({matched or 'any'}) -> {rule.team}", rule.handoff or always_human
            )
    return TeamAssignment(
        assignment.default_team, None, f"no rule matched: default team {assignment.default_team}", always_human
    )
