"""How a contact's name is searched: folded (no accents, any case) and from the start of each of its words.

An operator types "gomez" for "Ana Gómez", "joao" for "João", "da silva" for "João da Silva": each name is stored
as the folded suffixes that start at a word (``name_terms``) and a query is folded the same way (``search_form``),
so one indexed prefix range finds it on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import re
import unicodedata

_WORD_BREAK = re.compile(r"[\s\-]+")
TERM_LENGTH = 200


def search_form(text: str) -> str:
    """``text`` without accents, case-folded, its words joined by single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(word for word in _WORD_BREAK.split(bare) if word)


def name_terms(name: str | None) -> list[str]:
    """The folded name from each word on: "Ana María Gómez" -> "ana maria gomez", "maria gomez", "gomez"."""
    words = search_form(name or "").split(" ")
    terms = {" ".join(words[i:])[:TERM_LENGTH] for i in range(len(words)) if words[i]}
    return sorted(terms)
