"""Text helpers the checks share: normalising, accent folding that keeps offsets, sentences, clauses."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

# Invisible characters an adversarial text uses to split a keyword ("ig\u200bnore") past a matcher.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"), None)
_SPACES = re.compile(r"[\u00a0\u202f\u2007\u2009\u200a\u3000\t\r\f\v]")

NEGATORS = frozenset({"no", "nao", "not", "never", "nunca", "jamas", "jamais", "cannot", "cant", "nem", "ni", "nor"})


def normalize(text: str) -> str:
    """NFKC (full-width and look-alike forms to plain ones), invisible characters out, one kind of space."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    return _SPACES.sub(" ", text)


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    low = ch.lower()
    if len(low) != 1:
        return ch
    base = [c for c in unicodedata.normalize("NFKD", low) if not unicodedata.combining(c)]
    return base[0] if len(base) == 1 else low


def fold(text: str) -> str:
    """Lower case without accents, one character per character so offsets stay valid."""
    return "".join(_fold_char(ch) for ch in text)


def fold_phrase(text: str) -> str:
    """A phrase folded and with its whitespace collapsed, for matching."""
    return re.sub(r"\s+", " ", fold(normalize(text))).strip()


@dataclass(frozen=True)
class Span:
    """A slice of a text."""

    start: int
    end: int

    def contains(self, position: int) -> bool:
        """Whether ``position`` lies inside."""
        return self.start <= position < self.end


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
_CLAUSE_END = re.compile(r"[,;:](?=\s)|[()]|\s(?:y|e|and|pero|but|mas|porem|luego|then|despues|depois)\s|\s[-–—]\s")


def _split(text: str, pattern: re.Pattern[str], start: int = 0, end: int | None = None) -> list[Span]:
    end = len(text) if end is None else end
    spans: list[Span] = []
    cursor = start
    for match in pattern.finditer(text, start, end):
        if text[cursor : match.start()].strip():
            spans.append(_trimmed(text, cursor, match.start()))
        cursor = match.end()
    if text[cursor:end].strip():
        spans.append(_trimmed(text, cursor, end))
    return spans


def _trimmed(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end)


def sentences(text: str) -> list[Span]:
    """Sentence spans: split after . ! ? … followed by space, and at line breaks."""
    return _split(text, _SENTENCE_END)


def clauses(text: str, sentence: Span) -> list[Span]:
    """Clause spans inside a sentence: split at commas, colons, dashes and coordinating words."""
    return _split(fold(text), _CLAUSE_END, sentence.start, sentence.end)


def enclosing(spans: Iterable[Span], position: int) -> Span | None:
    """The span holding ``position``."""
    return next((s for s in spans if s.contains(position)), None)


_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")


def words(text: str) -> list[str]:
    """Word tokens (letters and digits) of an already folded text."""
    return _WORD.findall(text)


def word_spans(text: str) -> list[tuple[str, int, int]]:
    """Word tokens with their offsets."""
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def negated(folded: str, position: int, window: int = 3) -> bool:
    """Whether one of the ``window`` words before ``position`` negates what follows."""
    before = words(folded[max(0, position - 60) : position])[-window:]
    return any(w in NEGATORS or w.endswith("n't") or w.endswith("n’t") for w in before)


def phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching any of the folded phrases on word boundaries; None for no phrases."""
    return _phrase_pattern(tuple(phrases))


@lru_cache(maxsize=256)
def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    folded = sorted({fold_phrase(p) for p in phrases if p.strip()}, key=len, reverse=True)
    if not folded:
        return None
    alternatives = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in folded)
    return re.compile(rf"(?<![^\W_])(?:{alternatives})(?![^\W_])")
