"""What the intent model reads: word and character n-gram TF-IDF beside the multilingual sentence embedding.

The TF-IDF half sees the business's own words, typos and abbreviations ("qto", "agendamiento", "pfv"); the
embedding half carries meaning across languages and paraphrases. Both blocks are L2-normalised per row, the
embedding then weighted by ``USE_WEIGHT``: at 2 it counts as much as the two TF-IDF blocks together
(benchmarks/intent_model_choice.py: the calibrated setting, ECE 0.02 with C=30, transfer across languages at
the embeddings' level). ``TextFeatures(None, None)`` is the embedding alone, what format-1 models read.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from nightcrew.intelligence.intents.encoder import EMBEDDING_SIZE, encode

USE_WEIGHT = 2.0
_STRETCHED = re.compile(r"([^\W\d_])\1{2,}")
_DIGIT = re.compile(r"\d")


def normalize_text(text: str) -> str:
    """Lowercase, strip accents, digits to 0, squeeze stretched letters ("siiiii" -> "sii"): for TF-IDF."""
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return " ".join(_STRETCHED.sub(r"\1\1", _DIGIT.sub("0", folded)).split())


def word_vectorizer() -> TfidfVectorizer:
    """Word 1-2 grams, with ``?`` and ``$`` as tokens (a bare "precio?" is a question about price)."""
    return TfidfVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b|[?$]", sublinear_tf=True)


def char_vectorizer() -> TfidfVectorizer:
    """Character 2-5 grams within word boundaries: typos and inflections share most of them."""
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)


class TextFeatures:
    """Turns messages into the classifier's rows: ``[word TF-IDF | char TF-IDF | weight * embedding]``."""

    def __init__(
        self, word: TfidfVectorizer | None, char: TfidfVectorizer | None, use_weight: float = USE_WEIGHT
    ) -> None:
        if (word is None) != (char is None):
            raise ValueError("word and character vectorizers go together")
        self.word = word
        self.char = char
        self.use_weight = use_weight

    @classmethod
    def embedding_only(cls) -> TextFeatures:
        """The embedding alone, unweighted (format-1 models)."""
        return cls(None, None, 1.0)

    @classmethod
    def fit(cls, texts: Sequence[str], use_weight: float = USE_WEIGHT) -> tuple[TextFeatures, sparse.csr_matrix]:
        """Learn the vocabularies on ``texts``; returns the features and the rows of ``texts``."""
        word, char = word_vectorizer(), char_vectorizer()
        normalized = [normalize_text(t) for t in texts]
        features = cls(word, char, use_weight)
        blocks = [word.fit_transform(normalized), char.fit_transform(normalized)]
        return features, features._stack(blocks, encode(texts))

    @property
    def uses_tfidf(self) -> bool:
        """False for the embedding-only features of a format-1 model."""
        return self.word is not None

    @property
    def n_features(self) -> int:
        """The width of a row."""
        if self.word is None or self.char is None:
            return EMBEDDING_SIZE
        return len(self.word.vocabulary_) + len(self.char.vocabulary_) + EMBEDDING_SIZE

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix | NDArray[np.float32]:
        """The rows for ``texts`` (sparse with TF-IDF, a dense array for the embedding alone)."""
        embeddings = encode(texts)
        if self.word is None or self.char is None:
            return embeddings
        normalized = [normalize_text(t) for t in texts]
        return self._stack([self.word.transform(normalized), self.char.transform(normalized)], embeddings)

    def _stack(self, tfidf: list[sparse.spmatrix], embeddings: NDArray[np.float32]) -> sparse.csr_matrix:
        dense = sparse.csr_matrix(self.use_weight * embeddings.astype(np.float64))
        return sparse.hstack([*tfidf, dense]).tocsr()
