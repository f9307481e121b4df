"""Language: the draft is written in the contact's language, not in another one or a mix."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from lingua import Language as LinguaLanguage
from lingua import LanguageDetector, LanguageDetectorBuilder

from nightcrew.guardrails.policy import LanguagePolicy
from nightcrew.guardrails.text import normalize, sentences
from nightcrew.guardrails.verdict import Verdict

CHECK = "language"
_CODES = {LinguaLanguage.SPANISH: "es", LinguaLanguage.PORTUGUESE: "pt", LinguaLanguage.ENGLISH: "en"}
_NAMES = {"es": "Spanish", "pt": "Portuguese", "en": "English"}
# Links, addresses, numbers and handles carry no language and confuse the detector.
_NOISE = re.compile(
    r"https?://\S+|www\.\S+|\S+@\S+|\b[\w-]+\.(?:com|net|org|io|example|br|mx)\S*|[@#]\w+|"
    r"\b(?=[\w-]*\d)[\w-]{12,}\b|\d[\d.,:/%]*"
)
_WORD = re.compile(r"[^\W\d_]{2,}")
# A sentence in another language must be this sure before a draft counts as mixed.
_MIXED_CONFIDENCE = 0.85


@lru_cache(maxsize=1)
def detector() -> LanguageDetector:
    """The Spanish/Portuguese/English detector, built once per process."""
    return LanguageDetectorBuilder.from_languages(*_CODES).build()


@dataclass(frozen=True)
class Detection:
    """One stretch of text, its most likely language and how sure the detector is."""

    text: str
    language: str | None
    confidence: float
    words: int


def detect(text: str) -> Detection:
    """The most likely of es/pt/en for a text, with its confidence (None for text without words)."""
    count = len(_WORD.findall(text))
    if count == 0:
        return Detection(text, None, 0.0, 0)
    values = detector().compute_language_confidence_values(text)
    if not values:
        return Detection(text, None, 0.0, count)
    best = values[0]
    return Detection(text, _CODES.get(best.language), float(best.value), count)


def _clean(text: str, strip: Sequence[str]) -> str:
    text = _NOISE.sub(" ", normalize(text))
    for term in sorted((s for s in strip if s), key=len, reverse=True):
        text = re.sub(rf"(?i)(?<!\w){re.escape(term)}(?!\w)", " ", text)
    return text


def check_language(text: str, expected: str | None, policy: LanguagePolicy, *, strip: Sequence[str] = ()) -> Verdict:
    """Pass when the draft is in ``expected``; short drafts and unknown contact languages are not judged."""
    if expected is None:
        return Verdict.passed(CHECK, "the contact's language is unknown; not judged")
    cleaned = _clean(text, strip)
    total = len(_WORD.findall(cleaned))
    if total < policy.min_words:
        return Verdict.passed(CHECK, f"too short to judge ({total} words)")
    overall = detect(cleaned)
    parts = [detect(cleaned[s.start : s.end]) for s in sentences(cleaned)]
    judged = [p for p in parts if p.words >= 4 and p.language is not None]
    escalate = Verdict.block if policy.on_mismatch == "block" else Verdict.review
    evidence = {"expected": expected, "detected": overall.language, "confidence": round(overall.confidence, 3)}
    if overall.language != expected and overall.confidence >= policy.min_confidence:
        return escalate(
            CHECK,
            f"draft is in {_NAMES.get(overall.language or '', overall.language)} ({overall.confidence:.2f}), "
            f"the contact speaks {_NAMES[expected]}",
            **evidence,
        )
    foreign = [p for p in judged if p.language != expected and p.confidence >= _MIXED_CONFIDENCE and p.words >= 4]
    if foreign:
        sample = foreign[0]
        return escalate(
            CHECK,
            f"draft mixes languages: '{sample.text.strip()[:60]}' is {_NAMES.get(sample.language or '', '?')}, "
            f"the contact speaks {_NAMES[expected]}",
            **evidence,
        )
    if overall.language != expected:
        return Verdict.passed(CHECK, f"not sure of the draft's language ({overall.confidence:.2f}); not judged")
    return Verdict.passed(CHECK, f"draft is in {_NAMES[expected]} ({overall.confidence:.2f})")
