"""Lead segment model: training time, single-lead latency, and honest metrics against plain baselines.

Run: .venv/bin/python benchmarks/lead_model.py [--rows 50000] [--threads 1] [--predictions 2000]

1. Trains on --rows leads of the Aurora Kids demo history and reports the wall time.
2. Scores single leads with explanations (predict_one) and reports p50/p99/max latency.
3. Demo split: trains on the first 18 months, evaluates on the last 6, next to a plain scikit-learn
   LogisticRegression and HistGradientBoostingClassifier on the same split.
4. Public data bundled with scikit-learn (load_breast_cancer, load_wine), stratified 70/30, through
   the CSV path (';'-separated bytes), against StandardScaler + LogisticRegression on the same split.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from nightcrew.intelligence.segments import (
    DataSchema,
    SegmentMetrics,
    SegmentModel,
    check_promotion,
    evaluate_segment_model,
    parse_crm_csv,
    predict_one,
    render_calibration_table,
    render_metrics_table,
    train_segment_model,
)
from nightcrew.intelligence.segments.metrics import compute_metrics
from nightcrew.intelligence.segments.schemas import CandidateName
from nightcrew.simulate.history import generate_history

END = datetime(2026, 1, 1, tzinfo=UTC)
console = Console(width=150)


def main() -> None:
    """Run every measurement and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=1, help="OpenMP/BLAS threads while training (0 = default)")
    parser.add_argument("--predictions", type=int, default=2000, help="single predictions timed per model")
    parser.add_argument("--skip-public", action="store_true")
    args = parser.parse_args()
    threads = args.threads or None

    history = generate_history(args.rows, 7, END)
    console.rule(f"Training on {args.rows:,} demo leads (threads={threads or 'library default'})")
    started = time.perf_counter()
    result = train_segment_model(history, "enrolled", id_column="lead_id", reference_time=END, max_threads=threads)
    seconds = time.perf_counter() - started
    console.print(
        f"training time: {seconds:.1f} s  (chosen: {result.metrics.chosen_model}, {result.metrics.n_folds} folds)"
    )
    for candidate in result.metrics.candidates:
        console.print(
            f"  {candidate.name}: CV log loss {candidate.log_loss:.4f}, AUC {candidate.roc_auc}, "
            f"{candidate.fit_seconds:.2f} s per fold fit"
        )

    console.rule("Single-lead prediction with explanation")
    latency(result.model, history, args.predictions)
    # The tree model is the slower one to score; measure it even when the linear model won.
    other: CandidateName = (
        "gradient_boosting" if result.model.chosen_model == "logistic_regression" else "logistic_regression"
    )
    forced = train_segment_model(
        history, "enrolled", id_column="lead_id", reference_time=END, max_threads=threads, candidates=[other]
    )
    latency(forced.model, history, args.predictions)

    console.rule("Demo split: first 18 months -> last 6 months")
    demo_split(history, threads)

    if not args.skip_public:
        console.rule("Public data bundled with scikit-learn (stratified 70/30, random_state=0)")
        public_datasets(threads)


def latency(model: SegmentModel, frame: pd.DataFrame, count: int) -> None:
    """p50/p99 of predict_one (prediction + explanation) on leads the model scores one at a time."""
    records = frame.sample(n=count, replace=len(frame) < count, random_state=1).to_dict(orient="records")
    for record in records[:50]:
        predict_one(model, record)
    timings: list[float] = []
    for record in records:
        started = time.perf_counter()
        predict_one(model, record)
        timings.append((time.perf_counter() - started) * 1000)
    only: list[float] = []
    for record in records:
        started = time.perf_counter()
        model.predict_proba_records([record])
        only.append((time.perf_counter() - started) * 1000)
    size = getattr(model.scorer, "roots", np.zeros(0)).size
    trees = f", {size} trees" if size else ""
    title = f"{len(records)} single predictions, {model.chosen_model}{trees}, {len(model.field_names)} fields"
    table = Table(title=title)
    for column in ("path", "p50 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="right" if column != "path" else "left")
    for name, values in (("predict_one (with explanation)", timings), ("probability only", only)):
        table.add_row(name, f"{_pct(values, 50):.2f}", f"{_pct(values, 99):.2f}", f"{max(values):.2f}")
    console.print(table)
    example = predict_one(model, records[0])
    console.print(f"example: P={example.probability:.3f}; " + "; ".join(c.text for c in example.contributions))


def demo_split(history: pd.DataFrame, threads: int | None) -> None:
    """Train on the first 18 months, evaluate on the last 6, with plain scikit-learn baselines."""
    cut = pd.Timestamp(END.replace(tzinfo=None)) - pd.DateOffset(months=6)
    train, test = history[history["created_at"] < cut], history[history["created_at"] >= cut]
    result = train_segment_model(train, "enrolled", id_column="lead_id", reference_time=END, max_threads=threads)
    holdout = evaluate_segment_model(result.model, test, "enrolled")
    console.print(render_metrics_table(result.metrics, title=f"Training (CV) on {len(train):,} leads"))
    console.print(render_metrics_table(holdout, title=f"Held-out last 6 months, {len(test):,} leads"))
    console.print(render_calibration_table(holdout))
    for label, metrics in (("CV metrics", result.metrics), ("held-out metrics", holdout)):
        decision = check_promotion(metrics)
        failed = ", ".join(c.name for c in decision.failed) or "none"
        console.print(f"gate on {label}: {'ALLOWED' if decision.allowed else 'REFUSED'} (failed: {failed})")

    y_train = (train["enrolled"] == "yes").astype(int).to_numpy()
    y_test = (test["enrolled"] == "yes").astype(int).to_numpy()
    numeric = ["child_age", "number_of_children", "response_minutes"]
    categorical = ["country", "city", "parent_language", "inquiry_type", "source", "preferred_channel", "asked_price"]

    def plain_frame(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[numeric + categorical].copy()
        out[numeric] = out[numeric].astype(float)
        out[categorical] = out[categorical].astype(object).where(out[categorical].notna(), "missing").astype(str)
        return out

    plain_lr = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
                    ]
                ),
            ),
            ("model", LogisticRegression(max_iter=1000)),
        ]
    )
    rows = [("nightcrew (" + result.model.chosen_model + ", calibrated)", holdout)]
    with threadpool_limits(threads):
        plain_lr.fit(plain_frame(train), y_train)
        rows.append(("sklearn LogisticRegression (plain)", _metrics(y_test, plain_lr.predict_proba(plain_frame(test)))))
        hgb_train, hgb_test = plain_frame(train), plain_frame(test)
        for column in categorical:
            categories = pd.CategoricalDtype(sorted(hgb_train[column].unique()))
            hgb_train[column] = hgb_train[column].astype(categories)
            hgb_test[column] = hgb_test[column].astype(categories)
        plain_hgb = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
        plain_hgb.fit(hgb_train, y_train)
        rows.append(("sklearn HistGradientBoosting (plain)", _metrics(y_test, plain_hgb.predict_proba(hgb_test))))
    rows.append(
        ("always 'no' (trivial)", _metrics(y_test, np.tile([1.0 - y_train.mean(), y_train.mean()], (len(y_test), 1))))
    )
    console.print(comparison_table("Demo history, last 6 months held out", rows))


def public_datasets(threads: int | None) -> None:
    """Breast cancer (binary) and wine (3 classes) through the CSV path, against a plain baseline."""
    loaders: list[tuple[str, Callable[..., object]]] = [("breast_cancer", load_breast_cancer), ("wine", load_wine)]
    for name, loader in loaders:
        bunch = loader(as_frame=True)
        frame = bunch.frame.copy()  # type: ignore[attr-defined]
        names = list(bunch.target_names)  # type: ignore[attr-defined]
        frame["target"] = [names[i] for i in frame["target"]]
        train, test = train_test_split(frame, test_size=0.3, stratify=frame["target"], random_state=0)
        # Through the CSV path with ';' and decimal commas, as a European-locale spreadsheet would export it.
        as_csv = parse_crm_csv(train.to_csv(sep=";", decimal=",", index=False).encode("utf-8"))
        test_csv = parse_crm_csv(test.to_csv(sep=";", decimal=",", index=False).encode("utf-8"))
        started = time.perf_counter()
        result = train_segment_model(as_csv, "target", reference_time=END, max_threads=threads)
        seconds = time.perf_counter() - started
        holdout = evaluate_segment_model(result.model, test_csv, "target")
        console.print(
            render_metrics_table(holdout, title=f"{name}: held-out 30% ({len(test)} rows), trained in {seconds:.1f} s")
        )
        classes = result.model.classes
        y_train = np.array([classes.index(v) for v in train["target"]])
        y_test = np.array([classes.index(v) for v in test["target"]])
        features = [c for c in frame.columns if c != "target"]
        baseline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        with threadpool_limits(threads):
            baseline.fit(train[features].to_numpy(), y_train)
            proba = baseline.predict_proba(test[features].to_numpy())
        rows = [
            (f"nightcrew ({result.model.chosen_model}, calibrated)", holdout),
            ("sklearn StandardScaler + LogisticRegression", _metrics(y_test, proba, classes)),
        ]
        console.print(comparison_table(f"{name}: same 70/30 split", rows))
        latency(result.model, test_csv, 1000)


def _metrics(y: np.ndarray, proba: np.ndarray, classes: list[str] | None = None) -> SegmentMetrics:
    labels = classes or ["no", "yes"]
    schema = DataSchema(
        target="enrolled" if classes is None else "target",
        classes=labels,
        positive_class=labels[1] if len(labels) == 2 else None,
        target_is_boolean=classes is None,
        columns=[],
        reference_time=END,
        n_rows=int(y.size),
    )
    return compute_metrics(y, proba, schema, source="holdout", chosen_model="logistic_regression")


def comparison_table(title: str, rows: list[tuple[str, SegmentMetrics]]) -> Table:
    """One row per model with the headline metrics."""
    table = Table(title=title)
    headers = ["model", "base_rate", "accuracy", "bal_acc", "macro_f1", "roc_auc", "log_loss", "brier", "lift@10%"]
    for header in headers:
        table.add_column(header, justify="left" if header == "model" else "right")
    for name, m in rows:
        table.add_row(
            name,
            f"{m.base_rate:.3f}",
            f"{m.accuracy:.3f}",
            f"{m.balanced_accuracy:.3f}",
            f"{m.macro_f1:.3f}",
            "n/a" if m.roc_auc is None else f"{m.roc_auc:.3f}",
            f"{m.log_loss:.3f}",
            "n/a" if m.brier is None else f"{m.brier:.3f}",
            "n/a" if m.lift_at_10pct is None else f"{m.lift_at_10pct:.2f}",
        )
    return table


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) > 1 else statistics.fmean(values)


if __name__ == "__main__":
    main()
