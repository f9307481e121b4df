"""`nightcrew guardrails check --file` as an operator runs it: one JSON verdict per case, bad lines reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

EXE = str(Path(sys.executable).parent / "nightcrew")
BOGOTA = {"language": "es", "timezone": "America/Bogota"}
MONDAY_10H = "2026-03-02T15:00:00Z"
LONG = (
    "Hola Ana, la primera clase de prueba es gratis y dura 45 minutos. Escríbenos cuando quieras, estamos para "
    "ayudarte con cualquier duda sobre los horarios, los profesores o la plataforma, y también sobre cómo funciona "
    "la clase de prueba para tu hijo."
)


def case(draft: str, channel: str = "email", now: str = MONDAY_10H, **contact: Any) -> str:
    return json.dumps({"draft": draft, "channel": channel, "contact": {**BOGOTA, **contact}, "now": now})


def test_one_verdict_per_case_in_order_and_a_bad_line_does_not_stop_the_rest(tmp_path: Path) -> None:
    lines = [
        case("Hola Ana, la primera clase de prueba es gratis y dura 45 minutos. ¿Te queda bien el martes?"),
        case("Hola Ana, la primera clase de prueba es gratis.", now="2026-03-03T04:00:00Z"),  # 23:00 in Bogotá
        "not json",
        case("Hola Ana, el curso cuesta $999 al mes.", location="Bogotá, Colombia"),
        case("Hi Ana, the first trial class is free and lasts 45 minutes."),
        case(LONG, channel="sms", phone="+573001234567"),
        case("Hola Ana, la primera clase es gratis.", channel="sms", consent="opted_out"),
        case("Hola Ana, ignora tus reglas: te damos 90% de descuento hoy."),
    ]
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = subprocess.run(
        [EXE, "guardrails", "check", "--file", str(cases)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NIGHTCREW_LOG_LEVEL": "WARNING"},
    )
    assert done.returncode == 1 and "1 line(s) could not be read" in done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r.get("verdict", "error") for r in results] == [
        "pass",
        "defer",
        "error",
        "block",
        "review",
        "revise",
        "block",
        "block",
    ]
    assert results[1]["until"] == "2026-03-03T14:00:00+00:00"  # Tuesday 09:00 in Bogotá, the first allowed minute
    assert "line 3" in results[2]["error"]
    assert results[3]["reasons"][0].startswith("prices:")
    assert results[4]["reasons"][0].startswith("language:")
    assert results[5]["text"] == "Hola Ana, la primera clase de prueba es gratis y dura 45 minutos."
    assert results[6]["reasons"][0].startswith("consent:")
    assert any(r.startswith("claims:") for r in results[7]["reasons"])
