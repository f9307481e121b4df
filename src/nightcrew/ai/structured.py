"""Structured model output: parse, validate with pydantic, and ask once more with the error when invalid."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from nightcrew.ai.errors import StructuredOutputError
from nightcrew.ai.providers.base import ChatMessage, Completion, CompletionRequest

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL | re.IGNORECASE)
# The model's broken answer is echoed back to it; a cap keeps a runaway answer from doubling the bill.
_ECHO_LIMIT = 2000


class _Output(BaseModel):
    """Model output: extra keys are tolerated (models add them), wrong types are not."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Classification(_Output):
    """A label with the classifier's confidence and a short reason."""

    label: str = Field(min_length=1)
    confidence: float = Field(ge=0.0, le=1.0)
    reason: str = ""

    @field_validator("label")
    @classmethod
    def _known_label(cls, value: str, info: ValidationInfo) -> str:
        labels = (info.context or {}).get("labels")
        if labels is not None and value not in labels:
            raise ValueError(f"label {value!r} is not one of {sorted(labels)}")
        return value


class Draft(_Output):
    """A message draft, its language and the approved facts it relies on (resolved to their text)."""

    text: str = Field(min_length=1)
    language: str
    claims_used: list[str] = Field(default_factory=list)
    # The model's own rating of the draft (follows the brief, states only approved facts); None when not given.
    # Below the playbook's draft-quality threshold the draft goes to a person.
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip():
            raise ValueError("text is blank")
        limit = (info.context or {}).get("max_chars")
        if limit is not None and len(value.strip()) > limit:
            raise ValueError(f"text is {len(value.strip())} characters; the limit is {limit}")
        return value.strip()

    @field_validator("language")
    @classmethod
    def _asked_language(cls, value: str, info: ValidationInfo) -> str:
        wanted = (info.context or {}).get("language")
        if wanted is not None and value.strip().lower() != wanted:
            raise ValueError(f"language must be {wanted!r}, got {value!r}")
        return value.strip().lower()

    @field_validator("claims_used")
    @classmethod
    def _approved_claims(cls, value: list[str], info: ValidationInfo) -> list[str]:
        facts: Sequence[str] | None = (info.context or {}).get("facts")
        if facts is None:
            return value
        return [resolve_fact(claim, facts) for claim in value]


class Summary(_Output):
    """A short summary of a conversation."""

    summary: str = Field(min_length=1)


def fact_id(index: int) -> str:
    """The id a prompt shows for the ``index``-th (0-based) approved fact."""
    return f"F{index + 1}"


def resolve_fact(claim: str, facts: Sequence[str]) -> str:
    """Map a claim (a fact id like ``F2``, or the fact's text) to the approved fact; others are errors."""
    stripped = claim.strip()
    match = re.fullmatch(r"[Ff](\d+)", stripped)
    if match:
        index = int(match.group(1)) - 1
        if 0 <= index < len(facts):
            return facts[index]
    wanted = _normalise(stripped)
    for fact in facts:
        if _normalise(fact) == wanted:
            return fact
    ids = ", ".join(fact_id(i) for i in range(len(facts))) or "none"
    raise ValueError(f"claim {claim!r} is not an approved fact (use the fact ids: {ids})")


def _normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split()).rstrip(".")


def extract_json(text: str) -> str:
    """The JSON object in a model answer: code fences and prose around the braces are dropped."""
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    text = text.strip()
    if text.startswith("{"):
        return text
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text


def parse_structured(text: str, schema: type[T], context: Mapping[str, Any] | None = None) -> T:
    """Validate a model answer against ``schema``; raise StructuredOutputError saying what was wrong."""
    try:
        return schema.model_validate_json(extract_json(text), context=dict(context or {}))
    except ValidationError as exc:
        raise StructuredOutputError(describe_errors(exc), raw=text) from exc


def describe_errors(exc: ValidationError) -> str:
    """A validation error in words a model can act on."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in error["loc"]) or "answer"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def schema_hint(schema: type[BaseModel]) -> str:
    """The JSON schema of ``schema`` as compact text for prompts."""
    return json.dumps(schema.model_json_schema(), separators=(",", ":"), ensure_ascii=False)


def repair_request(request: CompletionRequest, raw: str, error: str) -> CompletionRequest:
    """The same request plus the invalid answer and what was wrong with it."""
    echoed = raw if len(raw) <= _ECHO_LIMIT else raw[:_ECHO_LIMIT] + "…"
    correction = (
        f"Your previous answer was invalid: {error}. "
        "Answer again with only a JSON object that fixes this; change nothing else."
    )
    return CompletionRequest(
        system=request.system,
        messages=(
            *request.messages,
            ChatMessage("assistant", echoed or "(empty)"),
            ChatMessage("user", correction),
        ),
        json_output=request.json_output,
        call_id=request.call_id,
    )


def complete_structured(
    call: Callable[[CompletionRequest], Completion],
    request: CompletionRequest,
    schema: type[T],
    *,
    context: Mapping[str, Any] | None = None,
    on_invalid: Callable[[Completion, StructuredOutputError], None] | None = None,
) -> tuple[T, Completion]:
    """Call, validate, and on invalid output retry ONCE with the error appended; then raise the error."""
    completion = call(request)
    try:
        return parse_structured(completion.text, schema, context), completion
    except StructuredOutputError as first:
        if on_invalid is not None:
            on_invalid(completion, first)
        retry = call(repair_request(request, completion.text, first.message))
        return parse_structured(retry.text, schema, context), retry
