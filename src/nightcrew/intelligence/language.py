"""Language detection restricted to the playbook's languages, with the contact's known language as prior.

The rule, in one place:

* URLs, e-mail addresses, @mentions, digits, emojis and punctuation are removed; what is left are the
  words the detector can judge.
* No words left (empty text, emojis, a link, a phone number): the prior if there is one (source
  ``prior``), else the default language (source ``default``, confidence 0).
* No prior: lingua's answer (source ``detector``) with its confidence, however low.
* With a prior, a text of fewer than ``SHORT_TEXT_WORDS`` words ("ok", "sí", "show", "thanks!", "de
  nada") keeps the prior: a one- or two-word reply never overrides what we know about the contact.
* With a prior, a longer text takes lingua's answer when lingua gives it at least ``SWITCH_CONFIDENCE``
  (more than half of the probability), else keeps the prior.

Confidence: lingua's when the detector decided. When the prior decided, the probability of the prior
language after weighing lingua's scores with a prior of ``PRIOR_WEIGHT`` for the known language (the rest
shared by the others): "sí" with a Spanish prior is 0.93, "ok" with a Spanish prior 0.48 (lingua reads it
as English), an emoji alone 0.8 (no evidence either way). Pass as prior only a language the contact has
shown or chosen, not a business default: with a wrong prior, 1-2 word replies follow it.

``source`` says what the answer rests on: ``detector`` when lingua alone would give the same language,
``prior`` when the known language overruled or stood in for lingua, ``default`` when nothing was known.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

from lingua import IsoCode639_1, LanguageDetector, LanguageDetectorBuilder
from pydantic import BaseModel, ConfigDict, Field

from nightcrew.errors import ConfigurationError

# Chosen by measurement (benchmarks/inbound.py on the bundled language set; the same rule checked on the
# 1,600 labelled intent examples): lingua alone gets 97-100% of sentences but 70-91% of 1-3 word messages
# per language; with the contact's true language as prior, 98.5-100% of both; with a wrong prior, lingua
# still wins on 97-100% of sentences. Switching at 0.6 instead of 0.5 gained under 1 point with a true
# prior and lost 2-5 with a wrong one; a weighted posterior without a threshold pulled 10% of sentences
# to a wrong prior.
SHORT_TEXT_WORDS = 3
SWITCH_CONFIDENCE = 0.5
PRIOR_WEIGHT = 0.8

_NOISE = re.compile(
    r"https?://\S+|www\.\S+|\S+@\S+\.\S+|@\w+|\d+",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")

LanguageSource = Literal["detector", "prior", "default"]


class LanguageGuess(BaseModel):
    """The language of one message, how sure we are, and what decided it."""

    model_config = ConfigDict(frozen=True)

    language: str
    confidence: float = Field(ge=0.0, le=1.0)
    source: LanguageSource


def _iso_code(code: str) -> IsoCode639_1:
    try:
        return IsoCode639_1.from_str(code.strip().lower())
    except ValueError as exc:
        raise ConfigurationError(f"unknown language code {code!r}: use ISO 639-1, e.g. 'es'") from exc


def _language_key(languages: Iterable[str]) -> tuple[str, ...]:
    key = tuple(sorted({code.strip().lower() for code in languages}))
    if not key:
        raise ConfigurationError("language detection needs at least one language")
    for code in key:
        _iso_code(code)
    return key


@lru_cache(maxsize=8)
def _detector(key: tuple[str, ...]) -> LanguageDetector:
    codes = [_iso_code(code) for code in key]
    return LanguageDetectorBuilder.from_iso_codes_639_1(*codes).with_preloaded_language_models().build()


def preload_language_detector(languages: Iterable[str]) -> None:
    """Build and cache the detector for these languages now (about 0.3 s), not on the first message."""
    key = _language_key(languages)
    if len(key) > 1:
        _detector(key)


def words_of(text: str) -> list[str]:
    """The words the detector judges: no URLs, e-mail addresses, mentions, digits, emojis or punctuation."""
    return _WORD.findall(_NOISE.sub(" ", text))


def language_scores(text: str, languages: Iterable[str]) -> dict[str, float]:
    """Lingua's confidence per language (summing to 1), or an empty dict when the text has no words."""
    key = _language_key(languages)
    words = words_of(text)
    if not words:
        return {}
    if len(key) == 1:
        # With one language there is nothing to decide, and lingua needs at least two.
        return {key[0]: 1.0}
    values = _detector(key).compute_language_confidence_values(" ".join(words))
    scores = {value.language.iso_code_639_1.name.lower(): float(value.value) for value in values}
    total = sum(scores.values())
    if total <= 0.0:
        return {}
    return {code: scores.get(code, 0.0) / total for code in key}


def _prior_confidence(scores: dict[str, float], prior: str) -> float:
    """Probability of the prior language once lingua's scores are weighed with the prior."""
    others = (1.0 - PRIOR_WEIGHT) / max(len(scores) - 1, 1)
    weighted = {code: score * (PRIOR_WEIGHT if code == prior else others) for code, score in scores.items()}
    total = sum(weighted.values())
    return weighted[prior] / total if total > 0.0 else PRIOR_WEIGHT


def detect_language(
    text: str,
    languages: Iterable[str],
    prior: str | None = None,
    default: str | None = None,
) -> LanguageGuess:
    """Detect the language of ``text`` among ``languages``; ``prior`` is the contact's known language.

    A prior outside ``languages`` is ignored. ``default`` (else the first of ``languages``) answers
    when there is neither a word to judge nor a prior.
    """
    ordered = [code.strip().lower() for code in languages]
    key = _language_key(ordered)
    known = prior.strip().lower() if prior else None
    if known not in key:
        known = None
    fallback = default.strip().lower() if default else ordered[0]
    if fallback not in key:
        raise ConfigurationError(f"default language {fallback!r} is not one of {list(key)}")

    scores = language_scores(text, key)
    if not scores:
        if known is not None:
            return LanguageGuess(language=known, confidence=PRIOR_WEIGHT, source="prior")
        return LanguageGuess(language=fallback, confidence=0.0, source="default")

    detected = max(key, key=lambda code: scores[code])
    if known is None or (len(words_of(text)) >= SHORT_TEXT_WORDS and scores[detected] >= SWITCH_CONFIDENCE):
        return LanguageGuess(language=detected, confidence=scores[detected], source="detector")
    source: LanguageSource = "detector" if detected == known else "prior"
    return LanguageGuess(language=known, confidence=_prior_confidence(scores, known), source=source)
