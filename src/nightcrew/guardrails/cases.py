"""Guardrail cases in JSONL: parse them into drafts and contexts, format outcomes, score a corpus.

One case per line, as the bulk command reads it::

    {"draft": "...", "channel": "sms"|"whatsapp"|"email",
     "contact": {"language", "timezone", "phone", "location", "consent", "name", "email", "opted_out_at"},
     "inbound": "optional last message from the contact", "now": "ISO-8601 instant, optional"}

Optional keys beyond the issue's format: ``inbound_at`` (default: ``now`` when ``inbound`` is
given), ``purpose`` (default ``reply`` with an inbound message, else ``outreach``), ``source``
(``llm``/``template``/``human``, default ``llm``), ``template``, ``product``, ``sent`` (a list of
``{"at", "channel"}``), ``confidence`` (``{"segment", "intent", "draft"}``), ``facts`` (strings), and
for corpora ``id``, ``note`` and ``expect`` (``{"verdict", "check"}``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from nightcrew.guardrails.context import (
    Confidence,
    ContactInfo,
    Draft,
    DraftSource,
    GuardrailContext,
    Purpose,
    SentMessage,
)
from nightcrew.guardrails.pipeline import CHECK_ORDER, GuardrailOutcome, run_guardrails
from nightcrew.guardrails.policy import ChannelKind, PolicySet
from nightcrew.guardrails.verdict import VerdictKind

LEAKING = frozenset({VerdictKind.PASS, VerdictKind.REVISE, VerdictKind.DEFER})


class _Expect(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: VerdictKind
    check: str | None = None


class _CaseInput(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    draft: str = Field(min_length=1)
    channel: ChannelKind
    contact: ContactInfo = Field(default_factory=ContactInfo)
    inbound: str | None = None
    inbound_at: AwareDatetime | None = None
    now: AwareDatetime | None = None
    purpose: Purpose | None = None
    source: DraftSource = "llm"
    template: str | None = None
    product: str | None = None
    sent: list[SentMessage] = Field(default_factory=list)
    confidence: Confidence = Field(default_factory=Confidence)
    facts: list[str] = Field(default_factory=list)
    id: str | None = None
    note: str | None = None
    expect: _Expect | None = None


@dataclass(frozen=True)
class Expectation:
    """What a corpus case must end as, and which check must say so."""

    verdict: VerdictKind
    check: str | None = None


@dataclass(frozen=True)
class Case:
    """One parsed line: the draft, its context and, in a corpus, the expected verdict."""

    line: int
    draft: Draft
    context: GuardrailContext
    id: str | None = None
    note: str = ""
    expect: Expectation | None = None


@dataclass(frozen=True)
class CaseError:
    """A line that could not be read, with the field at fault."""

    line: int
    field: str
    message: str

    def to_dict(self) -> dict[str, object]:
        """The output line the bulk command prints for a bad input line."""
        return {"line": self.line, "error": f"line {self.line}: {self.field}: {self.message}"}


class CaseInvalid(ValueError):
    """A case that does not validate; carries every problem found."""

    def __init__(self, errors: Sequence[CaseError]) -> None:
        super().__init__("; ".join(f"line {e.line}: {e.field}: {e.message}" for e in errors))
        self.errors = list(errors)


def parse_case(data: object, *, line: int, default_now: datetime) -> Case:
    """Turn one decoded JSON case into a draft and context; ``default_now`` stands in for a missing ``now``."""
    try:
        raw = _CaseInput.model_validate(data)
    except ValidationError as exc:
        raise CaseInvalid(
            [CaseError(line, ".".join(str(p) for p in e["loc"]) or "(case)", e["msg"]) for e in exc.errors()]
        ) from exc
    now = raw.now or default_now
    inbound_at = raw.inbound_at or (now if raw.inbound is not None else None)
    context = GuardrailContext(
        now=now,
        channel=raw.channel,
        purpose=raw.purpose or ("reply" if raw.inbound is not None else "outreach"),
        contact=raw.contact,
        recent_sends=tuple(raw.sent),
        last_inbound_text=raw.inbound,
        last_inbound_at=inbound_at,
        draft_source=raw.source,
        confidence=raw.confidence,
        facts=tuple(raw.facts),
    )
    draft = Draft(text=raw.draft, template=raw.template, product=raw.product)
    expect = Expectation(raw.expect.verdict, raw.expect.check) if raw.expect else None
    return Case(line, draft, context, raw.id, raw.note or "", expect)


def parse_cases(lines: Iterable[str], *, default_now: datetime) -> Iterator[Case | CaseError]:
    """Parse JSONL lines; a bad line yields a CaseError (line number and field) and the batch goes on."""
    for number, text in enumerate(lines, start=1):
        if not text.strip() or text.lstrip().startswith("//"):
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            yield CaseError(number, "(json)", f"not valid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(data, dict):
            yield CaseError(number, "(case)", f"a case is a JSON object, got {type(data).__name__}")
            continue
        try:
            yield parse_case(data, line=number, default_now=default_now)
        except CaseInvalid as exc:
            yield from exc.errors


def format_outcome(outcome: GuardrailOutcome) -> dict[str, object]:
    """The bulk command's output for one case: {"verdict", "reasons", "until"?, "text"?}."""
    return outcome.to_dict()


def check_cases(lines: Iterable[str], policy: PolicySet, *, default_now: datetime) -> Iterator[dict[str, object]]:
    """Run the pipeline over JSONL lines and yield one output object per line (errors included)."""
    for item in parse_cases(lines, default_now=default_now):
        if isinstance(item, CaseError):
            yield item.to_dict()
        else:
            yield {"line": item.line, **format_outcome(run_guardrails(item.draft, item.context, policy))}


@dataclass(frozen=True)
class CaseResult:
    """A corpus case and what the pipeline made of it."""

    case: Case
    outcome: GuardrailOutcome

    @property
    def correct(self) -> bool:
        """Right verdict, from the expected check (a pass only needs the verdict)."""
        expect = self.case.expect
        if expect is None:
            return True
        if self.outcome.kind is not expect.verdict:
            return False
        return expect.check is None or expect.verdict is VerdictKind.PASS or expect.check in self.outcome.checks

    @property
    def leak(self) -> bool:
        """A case that must be blocked would reach a channel (pass, revise or defer)."""
        expect = self.case.expect
        return expect is not None and expect.verdict is VerdictKind.BLOCK and self.outcome.kind in LEAKING


@dataclass(frozen=True)
class CheckRow:
    """Corpus figures for one check."""

    check: str
    cases: int
    correct: int


@dataclass(frozen=True)
class CorpusReport:
    """Per-check corpus results, leaks and the cases that went wrong."""

    rows: tuple[CheckRow, ...]
    results: tuple[CaseResult, ...] = field(repr=False)

    @property
    def total(self) -> int:
        """Cases with an expectation."""
        return sum(r.cases for r in self.rows)

    @property
    def correct(self) -> int:
        """Cases that ended as expected."""
        return sum(r.correct for r in self.rows)

    @property
    def leaks(self) -> list[CaseResult]:
        """Must-block cases that would have been sent."""
        return [r for r in self.results if r.leak]

    @property
    def wrong(self) -> list[CaseResult]:
        """Cases that did not end as expected."""
        return [r for r in self.results if not r.correct]

    def verdict_counts(self) -> dict[str, int]:
        """How many cases ended in each verdict."""
        counts = {kind.value: 0 for kind in VerdictKind}
        for result in self.results:
            counts[result.outcome.kind.value] += 1
        return counts

    def table(self) -> str:
        """The per-check table (cases, correct) and the leak count, as plain text."""
        width = max([len(r.check) for r in self.rows] + [5])
        lines = [f"{'check':<{width}}  {'cases':>5}  {'correct':>7}"]
        lines += [f"{r.check:<{width}}  {r.cases:>5}  {r.correct:>7}" for r in self.rows]
        lines.append(f"{'total':<{width}}  {self.total:>5}  {self.correct:>7}")
        lines.append(f"blocked-case leaks: {len(self.leaks)}")
        return "\n".join(lines)


def evaluate_cases(cases: Iterable[Case], policy: PolicySet) -> CorpusReport:
    """Run every case with an expectation and tally per expected check."""
    results = tuple(CaseResult(c, run_guardrails(c.draft, c.context, policy)) for c in cases if c.expect is not None)
    tally: dict[str, list[int]] = {}
    for result in results:
        expect = result.case.expect
        assert expect is not None
        key = expect.check or "clean"
        row = tally.setdefault(key, [0, 0])
        row[0] += 1
        row[1] += int(result.correct)
    order = [*CHECK_ORDER, "clean"]
    keys = sorted(tally, key=lambda k: (order.index(k) if k in order else len(order), k))
    return CorpusReport(tuple(CheckRow(k, tally[k][0], tally[k][1]) for k in keys), results)
