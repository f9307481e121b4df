"""Inbound message understanding: language + intent latency, language accuracy, intent quality.

Run: .venv/bin/python benchmarks/inbound.py [--threshold 0.45]   (about 15 seconds)

Prints:
  1. start-up: detector and encoder load, training the default model;
  2. per-message latency p50/p99 (one message at a time): language, intent, both;
  3. language detection accuracy per language on sentences and on 1-3 word messages, without a prior,
     with the contact's true language as prior, and with a wrong prior (each other language);
  4. intent accuracy and macro-F1 per language on the bundled held-out split (model trained on the rest;
     near-duplicates, cosine > 0.8 in any language, never straddle the split), at argmax and at the
     threshold, with the per-intent table and the confusion matrix;
  5. the opt-out keyword layer on every bundled example: recall on opt-outs, false alarms on the rest;
     and, on messages written after the rules (opt_out_eval.jsonl, tricky negatives on purpose), the rule
     alone, rule + model, and the "certain" opt-outs (rule, or model >= 0.9).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

from nightcrew.intelligence.intents import (
    OPT_OUT,
    IntentEvaluation,
    IntentModel,
    bundled_examples,
    bundled_split,
    is_certain_opt_out,
    is_opt_out,
    language_eval_set,
    opt_out_eval_set,
    preload_encoder,
)
from nightcrew.intelligence.language import detect_language, preload_language_detector

LANGUAGES = ("es", "pt", "en")


def percentiles(timings_ms: Sequence[float]) -> str:
    ordered = sorted(timings_ms)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"p50 {statistics.median(ordered):6.2f} ms   p99 {p99:6.2f} ms   (n={len(ordered)})"


def timed(fn: Callable[[str], object], texts: Sequence[str]) -> list[float]:
    out = []
    for text in texts:
        started = time.perf_counter()
        fn(text)
        out.append((time.perf_counter() - started) * 1000)
    return out


def print_evaluation(title: str, evaluation: IntentEvaluation, accuracy_by_language: dict[str, float]) -> None:
    langs = "  ".join(f"{k} {v:.3f}" for k, v in evaluation.per_language_macro_f1.items())
    accuracies = "  ".join(f"{k} {v:.3f}" for k, v in accuracy_by_language.items())
    print(
        f"\n{title}: accuracy {evaluation.accuracy:.3f} ({accuracies}), macro-F1 {evaluation.macro_f1:.3f} "
        f"({langs}); predicted `other` {evaluation.predicted_other}/{evaluation.n_examples}"
    )
    print(f"  {'intent':15} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}")
    for intent, m in evaluation.per_intent.items():
        print(f"  {intent:15} {m.precision:9.3f} {m.recall:7.3f} {m.f1:6.3f} {m.support:8d}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Inbound language + intent benchmark.")
    parser.add_argument("--threshold", type=float, default=0.45, help="the playbook's intent_confidence")
    args = parser.parse_args()

    started = time.perf_counter()
    preload_language_detector(LANGUAGES)
    detector_s = time.perf_counter() - started
    started = time.perf_counter()
    preload_encoder()
    encoder_s = time.perf_counter() - started
    train, held_out = bundled_split(seed=0)
    started = time.perf_counter()
    model = IntentModel.train(train)
    train_s = time.perf_counter() - started
    print(
        f"start-up: language detector {detector_s:.2f} s, sentence encoder {encoder_s:.2f} s, "
        f"training on {len(train)} examples {train_s:.2f} s ({model.metadata.model_kind}, "
        f"C={model.metadata.regularisation_c:g})"
    )

    lang_rows = language_eval_set()
    texts = [e.text for e in held_out] + [text for text, _, _ in lang_rows]
    language_ms = timed(lambda t: detect_language(t, LANGUAGES, prior="es"), texts)
    intent_ms = timed(lambda t: model.predict(t, args.threshold), texts)
    both_ms = timed(lambda t: (detect_language(t, LANGUAGES, prior="es"), model.predict(t, args.threshold)), texts)
    print("\nlatency per message, one at a time:")
    print(f"  language          {percentiles(language_ms)}")
    print(f"  intent            {percentiles(intent_ms)}")
    print(f"  language + intent {percentiles(both_ms)}")

    print("\nlanguage detection accuracy (bundled set; short = 1-3 words):")
    print(f"  {'language':8} {'length':8} {'n':>4} {'no prior':>9} {'true prior':>11} {'wrong prior':>12}")
    for lang in LANGUAGES:
        for length in ("sentence", "short"):
            rows = [text for text, language, kind in lang_rows if language == lang and kind == length]
            none = sum(detect_language(t, LANGUAGES).language == lang for t in rows) / len(rows)
            true = sum(detect_language(t, LANGUAGES, prior=lang).language == lang for t in rows) / len(rows)
            wrong_hits = [
                detect_language(t, LANGUAGES, prior=other).language == lang
                for t in rows
                for other in LANGUAGES
                if other != lang
            ]
            wrong = sum(wrong_hits) / len(wrong_hits)
            print(f"  {lang:8} {length:8} {len(rows):4d} {none:9.3f} {true:11.3f} {wrong:12.3f}")

    def accuracy_by_language(threshold: float) -> dict[str, float]:
        return {
            lang: model.evaluate([e for e in held_out if e.language == lang], threshold=threshold).accuracy
            for lang in LANGUAGES
        }

    print(f"\nheld-out split (seed 0): {len(train)} train / {len(held_out)} held out, near-duplicates on one side")
    argmax = model.evaluate(held_out, threshold=0.0)
    print_evaluation("intent, held-out split, argmax (threshold 0)", argmax, accuracy_by_language(0.0))
    at_threshold = model.evaluate(held_out, threshold=args.threshold)
    print_evaluation(
        f"intent, held-out split, threshold {args.threshold}", at_threshold, accuracy_by_language(args.threshold)
    )
    labels = at_threshold.confusion.labels
    print("\n  confusion (rows true, columns predicted):")
    print("  " + " " * 15 + " ".join(f"{label[:6]:>6}" for label in labels))
    for label, row in zip(labels, at_threshold.confusion.matrix, strict=True):
        print(f"  {label:15}" + " ".join(f"{v:6d}" for v in row))

    everything = bundled_examples()
    opt_outs = [e for e in everything if e.intent == OPT_OUT]
    others = [e for e in everything if e.intent != OPT_OUT]
    caught = sum(is_opt_out(e.text) for e in opt_outs)
    false_alarms = [e.text for e in others if is_opt_out(e.text)]
    print(
        f"\nopt-out keyword layer: caught {caught}/{len(opt_outs)} opt-outs by rule alone; "
        f"false alarms {len(false_alarms)}/{len(others)} other messages {false_alarms[:5]}"
    )
    model_only = [e for e in held_out if e.intent == OPT_OUT]
    with_model = sum(model.predict(e.text, args.threshold).intent == OPT_OUT for e in model_only)
    print(f"held-out opt-outs recognised by rule + model: {with_model}/{len(model_only)}")

    full = IntentModel.train(everything)
    checks = opt_out_eval_set()
    predictions = full.predict_many([text for text, *_ in checks], args.threshold)
    print(f"\nopt-out on messages written after the rules (default model, threshold {args.threshold}):")
    print(f"  {'batch':14} {'':9} {'n':>3} {'rule':>5} {'rule+model':>10} {'certain':>8}")
    for batch in sorted({check[3] for check in checks}):
        for truth in (True, False):
            idx = [i for i, check in enumerate(checks) if check[3] == batch and check[1] is truth]
            rule = sum(is_opt_out(checks[i][0]) for i in idx)
            model_or_rule = sum(predictions[i].intent == OPT_OUT for i in idx)
            certain = sum(is_certain_opt_out(predictions[i]) for i in idx)
            kind = "opt-outs" if truth else "others"
            print(f"  {batch:14} {kind:9} {len(idx):3d} {rule:5d} {model_or_rule:10d} {certain:8d}")


if __name__ == "__main__":
    main()
