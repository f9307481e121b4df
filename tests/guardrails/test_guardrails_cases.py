"""The JSONL case format of the bulk command: parsing, per-line errors and the output objects."""

from __future__ import annotations

import json

from tests.guardrails.guardrail_corpus import CORPUS_NOW as NOW

from nightcrew.guardrails.cases import Case, CaseError, check_cases, parse_case, parse_cases
from nightcrew.guardrails.policy import PolicySet

DRAFT = "Hola María, ¿te gustaría agendar una clase de prueba?"
GOOD: dict[str, object] = {
    "draft": DRAFT,
    "channel": "sms",
    "contact": {"language": "es-MX", "timezone": "America/Mexico_City", "phone": "+52 55 1234 5678",
                "location": "CDMX, México", "consent": "opted_in"},
}  # fmt: skip


def test_a_case_in_the_issue_format_becomes_a_draft_and_a_context() -> None:
    case = parse_case({**GOOD, "inbound": "¿Tienen clases?", "now": "2026-03-10T18:00:00Z"}, line=3, default_now=NOW)
    assert case.line == 3
    assert case.draft.text == DRAFT
    ctx = case.context
    assert ctx.now.isoformat() == "2026-03-10T18:00:00+00:00"
    assert ctx.contact.language == "es" and ctx.contact.consent == "opted_in"
    # An inbound message without a time was just received, and the draft answers it.
    assert ctx.last_inbound_at == ctx.now and ctx.purpose == "reply"
    assert ctx.draft_source == "llm"


def test_defaults_without_inbound_or_now() -> None:
    case = parse_case(GOOD, line=1, default_now=NOW)
    assert case.context.now == NOW
    assert case.context.purpose == "outreach" and case.context.last_inbound_at is None


def test_optional_keys_beyond_the_issue_format() -> None:
    case = parse_case(
        {
            **GOOD,
            "purpose": "followup",
            "source": "template",
            "template": "followup_reminder",
            "sent": [{"at": "2026-03-10T10:00:00Z", "channel": "sms"}],
            "confidence": {"intent": 0.7},
            "facts": ["Clase agendada el 12 de marzo"],
            "expect": {"verdict": "pass"},
            "id": "x1",
        },
        line=1,
        default_now=NOW,
    )
    assert case.draft.template == "followup_reminder"
    assert case.context.recent_sends[0].channel == "sms"
    assert case.context.confidence.intent == 0.7
    assert case.expect is not None and case.expect.verdict.value == "pass"


def test_bad_lines_report_line_and_field_and_the_batch_goes_on() -> None:
    lines = [
        json.dumps(GOOD),
        "{not json",
        "[1, 2]",
        json.dumps({**GOOD, "channel": "fax"}),
        json.dumps({**GOOD, "contact": {"language": "fr"}}),
        json.dumps({**GOOD, "now": "2026-03-10T18:00:00"}),
        json.dumps({"channel": "sms"}),
        json.dumps({**GOOD, "colour": "red"}),
        "",
        json.dumps(GOOD),
    ]
    items = list(parse_cases(lines, default_now=NOW))
    errors = [i for i in items if isinstance(i, CaseError)]
    cases = [i for i in items if isinstance(i, Case)]
    assert [c.line for c in cases] == [1, 10]
    fields = {(e.line, e.field) for e in errors}
    assert fields == {
        (2, "(json)"), (3, "(case)"), (4, "channel"), (5, "contact.language"), (6, "now"), (7, "draft"), (8, "colour"),
    }  # fmt: skip
    assert all(str(e.to_dict()["error"]).startswith(f"line {e.line}: ") for e in errors)


def test_check_cases_prints_one_object_per_line(policy: PolicySet) -> None:
    lines = [
        json.dumps(GOOD),
        json.dumps({**GOOD, "now": "2026-03-10T04:00:00Z"}),
        json.dumps({**GOOD, "draft": DRAFT + " Te damos 50% de descuento."}),
        json.dumps(
            {
                **GOOD,
                "draft": "Hola María. " + "Tenemos clases de inglés en vivo para niños de seis a dieciséis años. " * 6,
            }
        ),
        "oops",
    ]
    out = list(check_cases(lines, policy, default_now=NOW))
    assert [o.get("verdict") for o in out] == ["pass", "defer", "block", "revise", None]
    assert out[0] == {"line": 1, "verdict": "pass", "reasons": []}
    assert out[1]["until"] == "2026-03-10T15:00:00+00:00" and "text" not in out[1]
    assert out[2]["reasons"][0].startswith("claims: discount '50%'")  # type: ignore[index]
    assert "until" not in out[3] and isinstance(out[3]["text"], str)
    assert out[4] == {"line": 5, "error": "line 5: (json): not valid JSON: Expecting value at column 1"}
