"""The verdict every guardrail check returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class VerdictKind(StrEnum):
    """What the pipeline should do with a draft. Ordered from mildest to strongest."""

    PASS = "pass"
    REVISE = "revise"
    DEFER = "defer"
    REVIEW = "review"
    BLOCK = "block"


SEVERITY = {
    VerdictKind.PASS: 0,
    VerdictKind.REVISE: 1,
    VerdictKind.DEFER: 2,
    VerdictKind.REVIEW: 3,
    VerdictKind.BLOCK: 4,
}


@dataclass(frozen=True)
class Verdict:
    """One check's decision about one draft, with the reason an operator reads."""

    kind: VerdictKind
    check: str
    reason: str = ""
    until: datetime | None = None
    text: str | None = None
    evidence: dict[str, object] = field(default_factory=dict)

    @classmethod
    def passed(cls, check: str, reason: str = "ok") -> Verdict:
        """A check that found nothing wrong."""
        return cls(VerdictKind.PASS, check, reason)

    @classmethod
    def defer(cls, check: str, until: datetime, reason: str) -> Verdict:
        """Send later, at ``until``."""
        return cls(VerdictKind.DEFER, check, reason, until=until)

    @classmethod
    def revise(cls, check: str, text: str, reason: str) -> Verdict:
        """Send ``text`` instead of the draft (after re-checking it)."""
        return cls(VerdictKind.REVISE, check, reason, text=text)

    @classmethod
    def block(cls, check: str, reason: str, **evidence: object) -> Verdict:
        """Never send this draft."""
        return cls(VerdictKind.BLOCK, check, reason, evidence=dict(evidence))

    @classmethod
    def review(cls, check: str, reason: str, **evidence: object) -> Verdict:
        """A person decides."""
        return cls(VerdictKind.REVIEW, check, reason, evidence=dict(evidence))

    @property
    def severity(self) -> int:
        """Higher is stronger; the pipeline acts on the strongest verdict."""
        return SEVERITY[self.kind]

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form for the audit log and the CLI."""
        out: dict[str, object] = {"verdict": self.kind.value, "check": self.check, "reason": self.reason}
        if self.until is not None:
            out["until"] = self.until.isoformat()
        if self.text is not None:
            out["text"] = self.text
        if self.evidence:
            out["evidence"] = self.evidence
        return out
