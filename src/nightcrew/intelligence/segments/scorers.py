"""Fitted models reduced to arrays: a linear scorer, a flattened tree ensemble, and a calibrator.

scikit-learn fits the models; scoring one lead through its generic predict path costs several
milliseconds of input validation per call, so the fitted parameters are copied into plain arrays and
evaluated with numpy. Each conversion is checked against scikit-learn's own predictions before use.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy import sparse
from scipy.optimize import minimize
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

_EPS = 1e-7
_CHUNK = 2048
_AGREEMENT = 1e-8


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def _to_proba(raw: np.ndarray) -> np.ndarray:
    """Class probabilities from raw scores: one column means binary (sigmoid), several mean softmax."""
    if raw.shape[1] == 1:
        p = _sigmoid(raw[:, 0])
        return np.column_stack([1.0 - p, p])
    return _softmax(raw)


class LinearScorer:
    """Logistic regression as coefficients: P = sigmoid/softmax(X w + b)."""

    kind: Literal["linear"] = "linear"

    def __init__(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.coef = np.asarray(coef, dtype=float)
        self.intercept = np.asarray(intercept, dtype=float)

    @classmethod
    def from_estimator(cls, estimator: LogisticRegression, check: sparse.csr_matrix | None = None) -> LinearScorer:
        """Copy a fitted LogisticRegression; ``check`` rows must score identically to scikit-learn."""
        scorer = cls(estimator.coef_, estimator.intercept_)
        if check is not None:
            _verify(scorer.predict_proba(check), estimator.predict_proba(check), "logistic regression")
        return scorer

    def predict_proba(self, x: sparse.csr_matrix | np.ndarray) -> np.ndarray:
        """Uncalibrated class probabilities."""
        raw = np.asarray(x @ self.coef.T) + self.intercept
        return _to_proba(raw)

    def to_state(self) -> dict[str, Any]:
        """Plain data for the artifact."""
        return {"kind": self.kind, "coef": self.coef, "intercept": self.intercept}


class TreeScorer:
    """A fitted HistGradientBoostingClassifier flattened into node arrays, evaluated for all trees at once."""

    kind: Literal["trees"] = "trees"

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.feature = np.asarray(arrays["feature"], dtype=np.int64)
        self.threshold = np.asarray(arrays["threshold"], dtype=float)
        self.missing_left = np.asarray(arrays["missing_left"], dtype=bool)
        self.left = np.asarray(arrays["left"], dtype=np.int64)
        self.right = np.asarray(arrays["right"], dtype=np.int64)
        self.is_leaf = np.asarray(arrays["is_leaf"], dtype=bool)
        self.value = np.asarray(arrays["value"], dtype=float)
        self.is_categorical = np.asarray(arrays["is_categorical"], dtype=bool)
        self.bitset_row = np.asarray(arrays["bitset_row"], dtype=np.int64)
        self.left_categories = np.asarray(arrays["left_categories"], dtype=bool)
        self.known_categories = np.asarray(arrays["known_categories"], dtype=bool)
        self.roots = np.asarray(arrays["roots"], dtype=np.int64)
        self.tree_class = np.asarray(arrays["tree_class"], dtype=np.int64)
        self.baseline = np.asarray(arrays["baseline"], dtype=float)
        self.depth = int(np.asarray(arrays["depth"]).item())
        self.order = np.asarray(arrays["order"], dtype=np.int64)
        self.remap = np.asarray(arrays["remap"], dtype=float)
        self._prepare_traversal()

    def _prepare_traversal(self) -> None:
        """Derive arrays that make one tree level a handful of vectorised lookups."""
        n_nodes = self.feature.size
        self._n_features = self.order.size
        index = np.arange(n_nodes)
        # Missing values go left or right per node: each node reads a copy of its column where NaN is
        # -inf (always <= threshold: left) or NaN itself (never <= threshold, even +inf: right).
        self._column = np.where(self.missing_left, self.feature, self.feature + self._n_features)
        self._threshold = np.where(self.is_leaf, np.inf, self.threshold)
        self._left = np.where(self.is_leaf, index, self.left)
        self._right = np.where(self.is_leaf, index, self.right)
        categorical = np.flatnonzero(self.is_categorical & ~self.is_leaf)
        self._table_row = np.full(n_nodes, -1, dtype=np.int64)
        self._table_row[categorical] = np.arange(categorical.size)
        # Row r, code c: does category c go left at the r-th categorical node? Code 256 = missing/negative.
        table = np.zeros((max(categorical.size, 1), 257), dtype=bool)
        for row, node in enumerate(categorical):
            known = self.known_categories[self.feature[node]]
            in_left = self.left_categories[self.bitset_row[node]]
            table[row, :256] = in_left | (~known & self.missing_left[node])
            table[row, 256] = self.missing_left[node]
        self._table = table
        self._any_categorical = categorical.size > 0
        self._class_matrix = np.zeros((self.roots.size, self.baseline.size))
        self._class_matrix[np.arange(self.roots.size), self.tree_class] = 1.0

    @classmethod
    def from_estimator(cls, estimator: HistGradientBoostingClassifier, check: np.ndarray | None = None) -> TreeScorer:
        """Flatten a fitted model; ``check`` rows must score identically to scikit-learn."""
        # The node layout and the internal re-encoding of categorical columns are scikit-learn internals;
        # the agreement check below refuses the copy if a scikit-learn release changes them.
        n_features = int(estimator.n_features_in_)
        order = np.arange(n_features)
        remap = np.zeros((0, 256))
        known_categories = np.zeros((n_features, 256), dtype=bool)
        preprocessor = estimator._preprocessor
        if preprocessor is not None:
            categorical = np.asarray(estimator.is_categorical_, dtype=bool)
            order = np.concatenate([np.flatnonzero(categorical), np.flatnonzero(~categorical)])
            if preprocessor.output_indices_["encoder"] != slice(0, int(categorical.sum())):
                raise RuntimeError("unexpected column order inside HistGradientBoostingClassifier")
            categories = preprocessor.named_transformers_["encoder"].categories_
            remap = np.full((len(categories), 256), np.nan)
            for j, values in enumerate(categories):
                for code, value in enumerate(values):
                    if np.isfinite(value) and 0 <= value < 256 and float(value).is_integer():
                        remap[j, int(value)] = code
            known, f_idx_map = estimator._bin_mapper.make_known_categories_bitsets()
            for feature in np.flatnonzero(estimator._is_categorical_remapped):
                known_categories[feature] = _unpack_bitset(known[f_idx_map[feature]])
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("feature", "threshold", "missing_left", "left", "right")}
        parts.update({k: [] for k in ("is_leaf", "value", "is_categorical", "bitset_row")})
        left_categories: list[np.ndarray] = [np.zeros((1, 256), dtype=bool)]
        roots: list[int] = []
        tree_class: list[int] = []
        offset, bitset_offset, depth = 0, 1, 0
        for iteration in estimator._predictors:
            for k, predictor in enumerate(iteration):
                nodes = predictor.nodes
                roots.append(offset)
                tree_class.append(k)
                parts["feature"].append(nodes["feature_idx"].astype(np.int64))
                parts["threshold"].append(nodes["num_threshold"].astype(float))
                parts["missing_left"].append(nodes["missing_go_to_left"].astype(bool))
                parts["left"].append(nodes["left"].astype(np.int64) + offset)
                parts["right"].append(nodes["right"].astype(np.int64) + offset)
                parts["is_leaf"].append(nodes["is_leaf"].astype(bool))
                parts["value"].append(nodes["value"].astype(float))
                is_cat = nodes["is_categorical"].astype(bool)
                parts["is_categorical"].append(is_cat)
                parts["bitset_row"].append(np.where(is_cat, nodes["bitset_idx"].astype(np.int64) + bitset_offset, 0))
                bitsets = predictor.raw_left_cat_bitsets
                if len(bitsets):
                    left_categories.append(np.vstack([_unpack_bitset(b) for b in bitsets]))
                    bitset_offset += len(bitsets)
                depth = max(depth, int(nodes["depth"].max()))
                offset += len(nodes)
        arrays = {k: np.concatenate(v) for k, v in parts.items()}
        arrays["left_categories"] = np.vstack(left_categories)
        arrays["known_categories"] = known_categories
        arrays["roots"] = np.array(roots, dtype=np.int64)
        arrays["tree_class"] = np.array(tree_class, dtype=np.int64)
        arrays["baseline"] = np.asarray(estimator._baseline_prediction, dtype=float).reshape(-1)
        arrays["depth"] = np.array(depth)
        arrays["order"] = order
        arrays["remap"] = remap
        scorer = cls(arrays)
        if check is not None:
            _verify(scorer.predict_proba(check), estimator.predict_proba(check), "gradient boosting")
        return scorer

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Uncalibrated class probabilities."""
        x = np.asarray(x, dtype=float)
        if x.shape[0] <= _CHUNK:
            return _to_proba(self._raw(x))
        return np.vstack([_to_proba(self._raw(x[i : i + _CHUNK])) for i in range(0, x.shape[0], _CHUNK)])

    def _raw(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        x = x[:, self.order]
        for j in range(self.remap.shape[0]):
            column = x[:, j]
            valid = np.isfinite(column) & (column >= 0) & (column < 256)
            codes = np.where(valid, column, 0).astype(np.int64)
            x[:, j] = np.where(valid & (codes == column), self.remap[j, codes], np.nan)
        missing = np.isnan(x)
        extended = np.hstack([np.where(missing, -np.inf, x), x])
        flat = extended.ravel()
        if self._any_categorical:
            valid = np.isfinite(extended) & (extended >= 0) & (extended < 256)
            codes = np.where(valid, extended, 256).astype(np.int64).ravel()
        base = (np.arange(n) * (2 * self._n_features))[:, None]
        node = np.broadcast_to(self.roots, (n, self.roots.size)).copy()
        for _ in range(self.depth):
            position = base + self._column[node]
            go_left = flat[position] <= self._threshold[node]
            if self._any_categorical:
                row = self._table_row[node]
                split = row >= 0
                if split.any():
                    go_left[split] = self._table[row[split], codes[position[split]]]
            node = np.where(go_left, self._left[node], self._right[node])
        raw: np.ndarray = self.value[node] @ self._class_matrix + self.baseline
        return raw

    def to_state(self) -> dict[str, Any]:
        """Plain data for the artifact."""
        return {
            "kind": self.kind,
            "feature": self.feature,
            "threshold": self.threshold,
            "missing_left": self.missing_left,
            "left": self.left,
            "right": self.right,
            "is_leaf": self.is_leaf,
            "value": self.value,
            "is_categorical": self.is_categorical,
            "bitset_row": self.bitset_row,
            "left_categories": self.left_categories,
            "known_categories": self.known_categories,
            "roots": self.roots,
            "tree_class": self.tree_class,
            "baseline": self.baseline,
            "depth": np.array(self.depth),
            "order": self.order,
            "remap": self.remap,
        }


Scorer = LinearScorer | TreeScorer


def scorer_from_state(state: dict[str, Any]) -> Scorer:
    """Rebuild a scorer from its artifact state."""
    if state.get("kind") == "linear":
        return LinearScorer(state["coef"], state["intercept"])
    if state.get("kind") == "trees":
        return TreeScorer({k: v for k, v in state.items() if k != "kind"})
    raise ValueError(f"unknown scorer kind {state.get('kind')!r}")


def _unpack_bitset(words: np.ndarray) -> np.ndarray:
    """256 booleans from scikit-learn's 8 x uint32 category bitset."""
    bits = (np.asarray(words, dtype=np.uint32)[:, None] >> np.arange(32, dtype=np.uint32)) & 1
    out: np.ndarray = bits.reshape(-1).astype(bool)
    return out


def _verify(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    gap = float(np.max(np.abs(ours - theirs))) if ours.size else 0.0
    if gap > _AGREEMENT:
        raise RuntimeError(f"the flattened {what} disagrees with scikit-learn by {gap:.2e}; refusing to use it")


class Calibrator:
    """Maps raw class probabilities to calibrated ones: ``softmax(a * log p + b)`` with ``a >= 0``.

    For two classes this is Platt scaling of the log-odds. The slope is kept non-negative so that
    calibration can only temper a model's ranking, never reverse it: on pure noise, out-of-fold scores
    are often slightly anti-correlated with the outcome (an artefact of the folds, not a signal), and an
    unconstrained fit would learn to flip them and report skill the model does not have.
    """

    def __init__(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.coef = np.asarray(coef, dtype=float)
        self.intercept = np.asarray(intercept, dtype=float)

    @classmethod
    def fit(cls, raw: np.ndarray, y: np.ndarray) -> Calibrator:
        """Fit on out-of-fold raw probabilities ``raw`` (n x classes) and true class indices ``y``."""
        features = _calibration_features(raw)
        n_classes = raw.shape[1]
        if n_classes == 2:
            target = (y == 1).astype(float)[:, None]
        else:
            target = np.zeros((y.size, n_classes))
            target[np.arange(y.size), y] = 1.0
        width = features.shape[1]

        def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
            z = params[0] * features + params[1:]
            if width == 1:
                p = _sigmoid(z)
                value = float(np.mean(np.logaddexp(0.0, z) - target * z))
            else:
                p = _softmax(z)
                value = float(
                    np.mean(np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)) + z.max(axis=1))
                    - np.mean(np.sum(target * z, axis=1))
                )
            residual = p - target
            grad = np.concatenate([[np.mean(np.sum(residual * features, axis=1))], residual.mean(axis=0)])
            return value, grad

        start = np.concatenate([[1.0], np.zeros(width)])
        bounds = [(0.0, None)] + [(-50.0, 50.0)] * width
        params = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds).x
        return cls(params[0] * np.eye(width), params[1:])

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities."""
        z = _calibration_features(raw) @ self.coef.T + self.intercept
        return _to_proba(z)

    def to_state(self) -> dict[str, Any]:
        """Plain data for the artifact."""
        return {"coef": self.coef, "intercept": self.intercept}


def _calibration_features(raw: np.ndarray) -> np.ndarray:
    p = np.clip(raw, _EPS, 1.0 - _EPS)
    if raw.shape[1] == 2:
        out: np.ndarray = np.log(p[:, 1:] / p[:, :1])
        return out
    logs: np.ndarray = np.log(p)
    return logs
