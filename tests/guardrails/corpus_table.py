"""Print the guardrail corpus results per check (cases, correct) and the blocked-case leaks.

Run from the repository root: .venv/bin/python -m tests.guardrails.corpus_table
"""

from __future__ import annotations

from tests.guardrails.guardrail_corpus import score_corpus


def main() -> None:
    """Score the corpus and print the table, verdict counts and any case that went wrong."""
    report = score_corpus()
    print(report.table())
    print("verdicts:", ", ".join(f"{k} {v}" for k, v in report.verdict_counts().items()))
    for result in report.wrong:
        expect = result.case.expect
        assert expect is not None
        print(
            f"WRONG {result.case.id}: expected {expect.verdict.value}/{expect.check}, "
            f"got {result.outcome.kind.value} {list(result.outcome.checks)}"
        )


if __name__ == "__main__":
    main()
