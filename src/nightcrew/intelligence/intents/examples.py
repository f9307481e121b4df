"""Labelled examples: reading a business's CSV/JSONL file, and the bundled demo-business set."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nightcrew.errors import ValidationFailed
from nightcrew.intelligence.intents.schemas import OTHER, IntentExample

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
BUNDLED_LANGUAGES: tuple[str, ...] = ("es", "pt", "en")
BUNDLED_HOLDOUT_FRACTION = 0.2

ExampleLike = IntentExample | tuple[str, str] | tuple[str, str, str | None]


def coerce_examples(examples: Iterable[ExampleLike]) -> list[IntentExample]:
    """Accept IntentExample objects or (text, intent[, language]) tuples; validate each."""
    out: list[IntentExample] = []
    for position, item in enumerate(examples, start=1):
        if isinstance(item, IntentExample):
            out.append(item)
            continue
        try:
            text, intent, *rest = item
            out.append(IntentExample(text=text, intent=intent, language=rest[0] if rest else None))
        except (ValueError, ValidationError) as exc:
            raise ValidationFailed(f"example {position}: {_reason(exc)}", details={"position": position}) from exc
    return out


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
    return str(exc)


def _row_example(path: Path, line: int, row: Any) -> IntentExample:
    if not isinstance(row, dict):
        raise ValidationFailed(f"{path}:{line}: expected an object with text and intent", details={"line": line})
    missing = [field for field in ("text", "intent") if not str(row.get(field) or "").strip()]
    if missing:
        raise ValidationFailed(f"{path}:{line}: missing {' and '.join(missing)}", details={"line": line})
    language = row.get("language")
    try:
        return IntentExample(
            text=str(row["text"]),
            intent=str(row["intent"]).strip().lower(),
            language=str(language) if language is not None else None,
        )
    except ValidationError as exc:
        raise ValidationFailed(f"{path}:{line}: {_reason(exc)}", details={"line": line}) from exc


def _read_jsonl(path: Path, text: str) -> list[IntentExample]:
    examples = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValidationFailed(f"{path}:{line}: not valid JSON: {exc.msg}", details={"line": line}) from exc
        examples.append(_row_example(path, line, row))
    return examples


def _read_csv(path: Path, text: str) -> list[IntentExample]:
    reader = csv.DictReader(text.splitlines(keepends=True))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if "text" not in header or "intent" not in header:
        raise ValidationFailed(
            f"{path}:1: the header needs 'text' and 'intent' columns, got {header}", details={"line": 1}
        )
    reader.fieldnames = header
    examples = []
    for row in reader:
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue
        examples.append(_row_example(path, reader.line_num, row))
    return examples


def load_examples(path: Path | str) -> list[IntentExample]:
    """Read labelled examples from a .csv or .jsonl file with text and intent (and optional language)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise ValidationFailed(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise ValidationFailed(f"{path}: not UTF-8 text") from exc
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson"}:
        examples = _read_jsonl(path, text)
    elif suffix == ".csv":
        examples = _read_csv(path, text)
    else:
        raise ValidationFailed(f"{path}: expected a .csv or .jsonl file, got {suffix or 'no extension'!r}")
    if not examples:
        raise ValidationFailed(f"{path}: no examples in the file")
    return examples


def examples_sha256(examples: Iterable[IntentExample]) -> str:
    """A fingerprint of a set of examples that does not depend on their order."""
    lines = sorted(json.dumps([e.text, e.intent, e.language], ensure_ascii=False) for e in examples)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def _bundled() -> tuple[IntentExample, ...]:
    examples: list[IntentExample] = []
    for language in BUNDLED_LANGUAGES:
        examples.extend(load_examples(DATA_DIR / f"intents_{language}.jsonl"))
    return tuple(examples)


def bundled_examples(*, include_other: bool = True) -> list[IntentExample]:
    """The demo business's examples in es, pt and en (``other``: greetings and off-topic messages)."""
    return [e for e in _bundled() if include_other or e.intent != OTHER]


def language_eval_set() -> list[tuple[str, str, str]]:
    """The bundled language-ID set: (text, language, 'sentence' | 'short') with 1-3 word shorts."""
    rows = []
    for raw in (DATA_DIR / "language_eval.jsonl").read_text(encoding="utf-8").splitlines():
        if raw.strip():
            row = json.loads(raw)
            rows.append((str(row["text"]), str(row["language"]), str(row["length"])))
    return rows


def opt_out_eval_set() -> list[tuple[str, bool, str, str]]:
    """Messages written after the opt-out rules, to check them: (text, is_opt_out, language, batch)."""
    rows = []
    for raw in (DATA_DIR / "opt_out_eval.jsonl").read_text(encoding="utf-8").splitlines():
        if raw.strip():
            row = json.loads(raw)
            rows.append((str(row["text"]), bool(row["opt_out"]), str(row["language"]), str(row["set"])))
    return rows
