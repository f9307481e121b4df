"""Feature encoders fitted on training rows: one matrix for the linear model, one for the trees.

The fitted state is plain numbers, strings and numpy arrays, so a saved model needs no custom classes
to load, and encoding one lead is a few numpy operations instead of a generic pipeline's overhead.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from nightcrew.intelligence.segments.features import Prepared

MAX_CATEGORIES = 50
MAX_TEXT_TERMS = 2000
TEXT_COMPONENTS = 8
_SKEW_FOR_LOG = 2.0
TEXT_CONFIG: dict[str, Any] = {
    "lowercase": True,
    "strip_accents": "unicode",
    "ngram_range": (1, 2),
    "token_pattern": r"(?u)\b\w\w+\b",
}


_ANALYZER: Callable[[str], list[str]] = TfidfVectorizer(**TEXT_CONFIG).build_analyzer()


def tokens_of(prepared: Prepared, name: str) -> list[list[str]]:
    """The terms of each document of a text column, computed once per prepared batch."""
    tokens = prepared.tokens.get(name)
    if tokens is None:
        tokens = [_ANALYZER(doc) if doc else [] for doc in prepared.text[name]]
        prepared.tokens[name] = tokens
    return tokens


def _terms(tokens: list[str]) -> list[str]:
    return tokens


def min_frequency(n_rows: int) -> int:
    """Rows a category needs to get its own column; rarer ones share the 'other' column."""
    return max(5, math.ceil(0.002 * n_rows))


@dataclass(frozen=True)
class NumericEncoding:
    """Imputation and scaling of one numeric column for the linear model (trees use raw values)."""

    name: str
    log: bool
    lower: float
    upper: float
    fill: float
    mean: float
    scale: float
    indicator: bool


@dataclass(frozen=True)
class CategoricalEncoding:
    """The categories of one column that get their own level; the rest share an 'other' level."""

    name: str
    levels: list[str]
    has_other: bool

    @property
    def width(self) -> int:
        """Columns in the one-hot block."""
        return len(self.levels) + int(self.has_other)


@dataclass(frozen=True)
class TextEncoding:
    """TF-IDF vocabulary and weights of one free-text column, and its SVD projection for the trees."""

    name: str
    vocabulary: list[str]
    idf: np.ndarray
    components: np.ndarray


class FeatureEncoder:
    """Fitted encoders for every derived column of a schema."""

    def __init__(
        self,
        numeric: list[NumericEncoding],
        categorical: list[CategoricalEncoding],
        text: list[TextEncoding],
    ) -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.text = text
        self._index = {cat.name: {level: i for i, level in enumerate(cat.levels)} for cat in categorical}
        self._vocab = {t.name: {term: i for i, term in enumerate(t.vocabulary)} for t in text}

    # ------------------------------------------------------------------------------------- fitting

    @classmethod
    def fit(cls, prepared: Prepared, *, random_state: int = 0) -> FeatureEncoder:
        """Learn scaling, category levels and text vocabularies from training rows."""
        numeric = [_fit_numeric(name, values) for name, values in prepared.numeric.items()]
        threshold = min_frequency(prepared.n_rows)
        categorical = [_fit_categorical(name, values, threshold) for name, values in prepared.categorical.items()]
        text = [_fit_text(name, tokens_of(prepared, name), random_state) for name in prepared.text]
        return cls(numeric, categorical, text)

    # ------------------------------------------------------------------------------------ matrices

    @property
    def tree_categorical_mask(self) -> np.ndarray:
        """Which columns of :meth:`tree_matrix` hold category codes."""
        widths = [False] * len(self.numeric) + [True] * len(self.categorical)
        widths += [False] * sum(t.components.shape[0] for t in self.text)
        return np.array(widths, dtype=bool)

    def tree_matrix(self, prepared: Prepared) -> np.ndarray:
        """Dense matrix for gradient boosting: raw numbers (NaN kept), category codes, text projections."""
        blocks: list[np.ndarray] = [prepared.numeric[e.name].reshape(-1, 1) for e in self.numeric]
        for cat in self.categorical:
            blocks.append(self._codes(cat, prepared.categorical[cat.name]).reshape(-1, 1))
        for enc in self.text:
            if enc.components.shape[0]:
                rows, cols, weights = self._tfidf(enc, tokens_of(prepared, enc.name))
                projection = np.zeros((prepared.n_rows, enc.components.shape[0]))
                np.add.at(projection, rows, weights[:, None] * enc.components.T[cols])
                blocks.append(projection)
        if not blocks:
            return np.zeros((prepared.n_rows, 0))
        return np.hstack(blocks).astype(np.float64, copy=False)

    def linear_matrix(self, prepared: Prepared) -> sparse.csr_matrix:
        """Sparse matrix for logistic regression: scaled numbers with missing flags, one-hot, TF-IDF."""
        # Assembled as one set of (row, column, value) triplets: building a scipy matrix per block costs
        # more than the arithmetic when a single lead is scored.
        n = prepared.n_rows
        dense: list[np.ndarray] = []
        for e in self.numeric:
            x = prepared.numeric[e.name]
            missing = np.isnan(x)
            t = np.log1p(np.maximum(x, 0.0)) if e.log else x
            t = np.clip(np.where(missing, e.fill, t), e.lower, e.upper)
            dense.append((t - e.mean) / e.scale)
            if e.indicator:
                dense.append(missing.astype(float))
        width = len(dense)
        rows = [np.repeat(np.arange(n), width)]
        cols = [np.tile(np.arange(width), n)]
        data = [np.column_stack(dense).ravel() if dense else np.zeros(0)]
        offset = width
        for cat in self.categorical:
            index = self._index[cat.name]
            other = len(cat.levels) if cat.has_other else -1
            codes = np.array([index.get(v, other) for v in prepared.categorical[cat.name]], dtype=np.int64)
            hit = np.flatnonzero(codes >= 0)
            rows.append(hit)
            cols.append(codes[hit] + offset)
            data.append(np.ones(hit.size))
            offset += cat.width
        for enc in self.text:
            r, c, w = self._tfidf(enc, tokens_of(prepared, enc.name))
            rows.append(r)
            cols.append(c + offset)
            data.append(w)
            offset += len(enc.vocabulary)
        all_rows = np.concatenate(rows)
        order = np.argsort(all_rows, kind="stable")
        indptr = np.concatenate([[0], np.cumsum(np.bincount(all_rows, minlength=n))])
        return sparse.csr_matrix((np.concatenate(data)[order], np.concatenate(cols)[order], indptr), shape=(n, offset))

    def typical_document(self, prepared: Prepared, name: str) -> str:
        """The training text closest to the centre of all of them in TF-IDF space (a 'typical' message)."""
        enc = next(t for t in self.text if t.name == name)
        docs = prepared.text[name]
        rows, cols, weights = self._tfidf(enc, tokens_of(prepared, name))
        if not docs or weights.size == 0:
            return ""
        centre = np.bincount(cols, weights=weights, minlength=len(enc.vocabulary)) / len(docs)
        similarity = np.bincount(rows, weights=weights * centre[cols], minlength=len(docs))
        return docs[int(similarity.argmax())]

    def _codes(self, cat: CategoricalEncoding, values: list[str]) -> np.ndarray:
        index = self._index[cat.name]
        other = float(len(cat.levels)) if cat.has_other else np.nan
        return np.array([index.get(v, other) for v in values], dtype=float)

    def _tfidf(self, enc: TextEncoding, tokens: list[list[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """TF-IDF (row, term, weight) triplets exactly as sklearn's TfidfVectorizer(sublinear_tf, l2) weighs them."""
        vocab = self._vocab[enc.name]
        rows: list[int] = []
        cols: list[int] = []
        for row, terms in enumerate(tokens):
            hits = [vocab[t] for t in terms if t in vocab]
            rows.extend([row] * len(hits))
            cols.extend(hits)
        if not cols:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
        width = max(len(enc.vocabulary), 1)
        pairs, counts = np.unique(np.array(rows, dtype=np.int64) * width + np.array(cols), return_counts=True)
        doc_index, term_index = pairs // width, pairs % width
        weights = (1.0 + np.log(counts)) * enc.idf[term_index]
        norms = np.sqrt(np.bincount(doc_index, weights=weights**2, minlength=len(tokens)))
        return doc_index, term_index, weights / norms[doc_index]

    # ---------------------------------------------------------------------------------------- state

    def to_state(self) -> dict[str, Any]:
        """Plain data for the artifact: lists, numbers, strings and arrays only."""
        return {
            "numeric": [
                {
                    "name": e.name,
                    "log": e.log,
                    "lower": e.lower,
                    "upper": e.upper,
                    "fill": e.fill,
                    "mean": e.mean,
                    "scale": e.scale,
                    "indicator": e.indicator,
                }
                for e in self.numeric
            ],
            "categorical": [
                {"name": c.name, "levels": list(c.levels), "has_other": c.has_other} for c in self.categorical
            ],
            "text": [
                {"name": t.name, "vocabulary": list(t.vocabulary), "idf": t.idf, "components": t.components}
                for t in self.text
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FeatureEncoder:
        """Rebuild from :meth:`to_state` output."""
        numeric = [
            NumericEncoding(
                name=str(e["name"]),
                log=bool(e["log"]),
                lower=float(e["lower"]),
                upper=float(e["upper"]),
                fill=float(e["fill"]),
                mean=float(e["mean"]),
                scale=float(e["scale"]),
                indicator=bool(e["indicator"]),
            )
            for e in state["numeric"]
        ]
        categorical = [
            CategoricalEncoding(
                name=str(c["name"]), levels=[str(v) for v in c["levels"]], has_other=bool(c["has_other"])
            )
            for c in state["categorical"]
        ]
        text = [
            TextEncoding(
                name=str(t["name"]),
                vocabulary=[str(v) for v in t["vocabulary"]],
                idf=np.asarray(t["idf"], dtype=float),
                components=np.asarray(t["components"], dtype=float),
            )
            for t in state["text"]
        ]
        return cls(numeric, categorical, text)


def _fit_numeric(name: str, values: np.ndarray) -> NumericEncoding:
    present = values[~np.isnan(values)]
    if present.size == 0:
        return NumericEncoding(name, False, 0.0, 0.0, 0.0, 0.0, 1.0, True)
    log = bool(present.min() >= 0 and _skew(present) > _SKEW_FOR_LOG)
    t = np.log1p(present) if log else present
    # Clipping the 0.5% tails keeps one huge value (a lead answered after a month) from flattening the rest.
    lower, upper = (float(q) for q in np.quantile(t, [0.005, 0.995]))
    t = np.clip(t, lower, upper)
    fill = float(np.median(t))
    filled = np.full(values.shape, fill)
    filled[~np.isnan(values)] = t
    scale = float(filled.std()) or 1.0
    return NumericEncoding(name, log, lower, upper, fill, float(filled.mean()), scale, bool(np.isnan(values).any()))


def _skew(x: np.ndarray) -> float:
    sd = float(x.std())
    return 0.0 if sd == 0 else float(np.mean(((x - x.mean()) / sd) ** 3))


def _fit_categorical(name: str, values: list[str], threshold: int) -> CategoricalEncoding:
    counts = Counter(values)
    frequent = [c for c, k in sorted(counts.items(), key=lambda item: (-item[1], item[0])) if k >= threshold]
    levels = frequent[: MAX_CATEGORIES - 1]
    has_other = len(levels) < len(counts)
    return CategoricalEncoding(name, levels, has_other)


def _fit_text(name: str, docs: list[list[str]], random_state: int) -> TextEncoding:
    vectorizer = TfidfVectorizer(
        analyzer=_terms,
        lowercase=False,
        min_df=2 if len(docs) >= 20 else 1,
        max_features=MAX_TEXT_TERMS,
        sublinear_tf=True,
        norm="l2",
        dtype=np.float64,
    )
    try:
        matrix = vectorizer.fit_transform(docs)
    except ValueError:  # no term occurs often enough: the column adds only its length counts
        return TextEncoding(name, [], np.zeros(0), np.zeros((0, 0)))
    vocabulary = [""] * len(vectorizer.vocabulary_)
    for term, index in vectorizer.vocabulary_.items():
        vocabulary[index] = term
    k = min(TEXT_COMPONENTS, len(vocabulary) - 1, matrix.shape[0] - 1)
    if k >= 1:
        components = TruncatedSVD(n_components=k, random_state=random_state).fit(matrix).components_
    else:
        components = np.zeros((0, len(vocabulary)))
    return TextEncoding(name, vocabulary, np.asarray(vectorizer.idf_, dtype=float), np.asarray(components))
