"""The array copies of fitted models score exactly like scikit-learn, including its edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from nightcrew.intelligence.segments.encoding import TEXT_CONFIG, FeatureEncoder
from nightcrew.intelligence.segments.features import Prepared
from nightcrew.intelligence.segments.scorers import Calibrator, LinearScorer, TreeScorer, scorer_from_state


def _data(n: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    x[:, [1, 4]] = rng.integers(0, 12, size=(n, 2))
    x[rng.random((n, 6)) < 0.05] = np.nan
    y = ((np.nan_to_num(x[:, 1]) % 3 == 0) + (np.nan_to_num(x[:, 0]) > 0) + rng.integers(0, 2, n)) % n_classes
    categorical = np.array([False, True, False, False, True, False])
    return x, y, categorical


@pytest.mark.parametrize("n_classes", [2, 3])
def test_flattened_trees_match_scikit_learn(n_classes: int) -> None:
    x, y, categorical = _data(3000, n_classes, n_classes)
    model = HistGradientBoostingClassifier(categorical_features=categorical, max_iter=40, random_state=0).fit(x, y)
    scorer = TreeScorer.from_estimator(model, check=x[:200])
    rng = np.random.default_rng(7)
    unseen = rng.normal(size=(1500, 6))
    unseen[:, [1, 4]] = rng.integers(-1, 15, size=(1500, 2))  # includes negative and unknown categories
    unseen[rng.random((1500, 6)) < 0.1] = np.nan
    np.testing.assert_allclose(scorer.predict_proba(unseen), model.predict_proba(unseen), rtol=0, atol=1e-12)
    restored = scorer_from_state(scorer.to_state())
    np.testing.assert_array_equal(restored.predict_proba(unseen), scorer.predict_proba(unseen))


def test_flattened_trees_without_categorical_features() -> None:
    x, y, _ = _data(2000, 2, 1)
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(x, y)
    scorer = TreeScorer.from_estimator(model, check=x[:100])
    np.testing.assert_allclose(scorer.predict_proba(x), model.predict_proba(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_linear_scorer_matches_scikit_learn(n_classes: int) -> None:
    rng = np.random.default_rng(n_classes)
    x = rng.normal(size=(500, 5))
    y = (x[:, 0] * 2 + rng.normal(size=500) > 0).astype(int) + (x[:, 1] > 1) * (n_classes - 2)
    model = LogisticRegression().fit(x, y)
    scorer = LinearScorer.from_estimator(model, check=x)
    np.testing.assert_allclose(scorer.predict_proba(x), model.predict_proba(x), rtol=0, atol=1e-12)


def test_tfidf_matches_scikit_learn() -> None:
    docs = [f"Hola quiero el curso de inglés para {i % 7} niños y niñas" for i in range(60)]
    docs += ["", "Olá ÁÉÍ coração", "info info info", "precio? precio precio"]
    prepared = Prepared(n_rows=len(docs), numeric={}, categorical={}, text={"message": docs})
    encoder = FeatureEncoder.fit(prepared)
    ours = encoder.linear_matrix(prepared).toarray()
    reference = TfidfVectorizer(**TEXT_CONFIG, min_df=2, max_features=2000, sublinear_tf=True).fit(docs)
    np.testing.assert_allclose(ours, reference.transform(docs).toarray(), rtol=0, atol=1e-12)


def test_calibration_never_reverses_a_ranking() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(2000) < 0.3).astype(int)
    # Scores that are anti-correlated with the outcome: an unconstrained Platt fit would flip them.
    score = np.clip(0.5 - 0.2 * y + rng.normal(0, 0.15, 2000), 0.01, 0.99)
    raw = np.column_stack([1 - score, score])
    calibrated = Calibrator.fit(raw, y).apply(raw)
    assert calibrated[:, 1] == pytest.approx(np.full(2000, 0.3), abs=0.02)
    honest = np.clip(0.3 + 0.3 * y + rng.normal(0, 0.15, 2000), 0.01, 0.99)
    ranked = Calibrator.fit(np.column_stack([1 - honest, honest]), y).apply(np.column_stack([1 - honest, honest]))
    assert np.array_equal(np.argsort(ranked[:, 1], kind="stable"), np.argsort(honest, kind="stable"))
