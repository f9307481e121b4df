"""Held-out splits that cannot flatter a model: near-duplicates (any language) stay on one side.

A random split of labelled messages puts "cuánto cuesta?" in training and "cuanto cuesta??" in the
held-out part, and a sentence encoder that maps translations close together does the same across
languages. So examples are first joined into groups, any two linked by a chain of cosine similarity
above ``NEAR_DUPLICATE_COSINE`` under the intent model's encoder, and the split is made by group
(StratifiedGroupKFold), keeping each intent x language's share in both parts as far as groups allow.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

from nightcrew.errors import ValidationFailed
from nightcrew.intelligence.intents.encoder import encode
from nightcrew.intelligence.intents.examples import BUNDLED_HOLDOUT_FRACTION, bundled_examples
from nightcrew.intelligence.intents.schemas import IntentExample

# Above this, two messages say the same thing in other words or in another language. In the first bundled
# set nearly every pair above 0.85 was a paraphrase or a translation, and so were most between 0.8 and
# 0.85 ("aceptan paypal" ~ "aceita paypal?" 0.82); 0.8 keeps both kinds on one side. On the bundled
# examples the largest group has 12 messages ("no gracias", "no thanks", "no ty", ...).
NEAR_DUPLICATE_COSINE = 0.8
# What the audit of the bundled examples counted as a near-translation.
AUDIT_COSINE = 0.8


def _similarities(texts: Sequence[str]) -> np.ndarray:
    vectors = encode(texts)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -1.0)
    return similarity


def near_duplicate_groups(texts: Sequence[str], *, threshold: float = NEAR_DUPLICATE_COSINE) -> list[int]:
    """A group number per text: texts linked by a chain of cosine > threshold share one (numbered in order)."""
    if not texts:
        return []
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(_similarities(texts) > threshold, k=1)), strict=True):
        a, b = root(int(i)), root(int(j))
        if a != b:
            parent[max(a, b)] = min(a, b)
    numbers: dict[int, int] = {}
    return [numbers.setdefault(root(i), len(numbers)) for i in range(len(texts))]


def grouped_split(
    examples: Sequence[IntentExample],
    *,
    seed: int,
    holdout_fraction: float = BUNDLED_HOLDOUT_FRACTION,
    threshold: float = NEAR_DUPLICATE_COSINE,
) -> tuple[list[IntentExample], list[IntentExample]]:
    """Split into (train, held_out) by near-duplicate group, stratified by intent x language; order kept."""
    if not 0.0 < holdout_fraction < 1.0:
        raise ValidationFailed(f"the held-out fraction must be between 0 and 1, got {holdout_fraction}")
    groups = near_duplicate_groups([e.text for e in examples], threshold=threshold)
    folds = max(2, round(1 / holdout_fraction))
    if len(set(groups)) < folds:
        raise ValidationFailed(
            f"too few distinct examples to hold {holdout_fraction:.0%} out: {len(set(groups))} groups of "
            f"near-duplicates, at least {folds} needed"
        )
    strata = [f"{e.intent}|{e.language}" for e in examples]
    rows = np.zeros(len(examples))
    if max(Counter(strata).values()) >= folds:
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            # Some intent x language may have fewer examples than folds; the split is still valid.
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            train_idx, held_idx = next(splitter.split(rows, strata, groups))
    else:
        # Too few examples per intent to stratify: hold out a share of the groups at random.
        shuffle = GroupShuffleSplit(n_splits=1, test_size=holdout_fraction, random_state=seed)
        train_idx, held_idx = next(shuffle.split(rows, strata, groups))
    return [examples[i] for i in sorted(train_idx)], [examples[i] for i in sorted(held_idx)]


def bundled_split(seed: int = 0) -> tuple[list[IntentExample], list[IntentExample]]:
    """A fixed (train, held_out) split of the bundled examples, about 80/20, no near-duplicate on both sides."""
    train, held_out = _bundled_split(seed)
    return list(train), list(held_out)


@lru_cache(maxsize=4)
def _bundled_split(seed: int) -> tuple[tuple[IntentExample, ...], tuple[IntentExample, ...]]:
    train, held_out = grouped_split(bundled_examples(), seed=seed)
    return tuple(train), tuple(held_out)


def near_duplicate_share(
    examples: Sequence[IntentExample], *, threshold: float = AUDIT_COSINE
) -> dict[str, dict[str, float]]:
    """Per language, the share of examples with a neighbour above ``threshold`` in another / the same language."""
    similarity = _similarities([e.text for e in examples])
    languages = np.array([e.language or "unknown" for e in examples])
    out: dict[str, dict[str, float]] = {}
    for language in dict.fromkeys(languages.tolist()):
        mine = languages == language
        rows = similarity[mine]
        out[str(language)] = {
            "n": float(mine.sum()),
            "cross_language": float((rows[:, ~mine].max(axis=1, initial=-1.0) > threshold).mean()),
            "same_language": float((rows[:, mine].max(axis=1, initial=-1.0) > threshold).mean()),
        }
    return out
