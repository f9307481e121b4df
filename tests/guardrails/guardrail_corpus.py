"""Load the guardrail corpus (tests/guardrails/corpus/*.jsonl) and score it against the sample playbook."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from nightcrew.guardrails.cases import Case, CaseError, CorpusReport, evaluate_cases, parse_cases
from nightcrew.guardrails.policy import PolicySet
from nightcrew.playbook import load_playbook

CORPUS_DIR = Path(__file__).parent / "corpus"
# The instant a case without "now" is checked at: Tuesday 11:00 in Mexico City, 14:00 in São Paulo.
CORPUS_NOW = datetime(2026, 3, 10, 17, 0, tzinfo=UTC)


def load_corpus() -> tuple[list[Case], list[CaseError]]:
    """Every case in the corpus files, and any line that failed to parse (file name in the field)."""
    cases: list[Case] = []
    errors: list[CaseError] = []
    for path in sorted(CORPUS_DIR.glob("*.jsonl")):
        for item in parse_cases(path.read_text(encoding="utf-8").splitlines(), default_now=CORPUS_NOW):
            if isinstance(item, CaseError):
                errors.append(CaseError(item.line, f"{path.name}:{item.field}", item.message))
            else:
                cases.append(item)
    return cases, errors


def score_corpus(policy: PolicySet | None = None) -> CorpusReport:
    """Run the whole corpus through the pipeline with the sample playbook."""
    cases, errors = load_corpus()
    if errors:
        raise ValueError("corpus lines do not parse: " + "; ".join(str(e.to_dict()["error"]) for e in errors))
    return evaluate_cases(cases, policy or PolicySet.from_playbook(load_playbook()))
