"""The segment model's data shapes: inferred schema, honest metrics, gate decisions, predictions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ColumnKind = Literal["numeric", "boolean", "categorical", "text", "date"]
CandidateName = Literal["gradient_boosting", "logistic_regression"]
MetricsSource = Literal["cross_validation", "holdout"]
WarningCode = Literal[
    "leakage",
    "id_like",
    "constant",
    "few_rows",
    "small_dataset",
    "class_imbalance",
    "rows_without_target",
    "schema",
]
SchemaIssueKind = Literal[
    "missing_column",
    "unknown_categories",
    "unparseable_values",
    "unknown_target_classes",
    "unused_columns",
]

#: What a categorical column holds when the value is absent; it is a category of its own.
MISSING = "(missing)"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Frozen):
    """One input column the model uses, as inferred from the training file."""

    name: str
    kind: ColumnKind
    missing_share: float = Field(ge=0.0, le=1.0)
    n_unique: int = Field(ge=0)
    decimal_comma: bool = False
    date_format: str | None = None
    has_time: bool = False
    categories: list[str] = Field(default_factory=list)
    categories_truncated: bool = False
    reference: float | str | None = None


class DataSchema(_Frozen):
    """What the model expects: feature columns, the target and its classes, the time reference."""

    target: str
    classes: list[str]
    positive_class: str | None
    target_is_boolean: bool
    columns: list[ColumnSpec]
    excluded: dict[str, str] = Field(default_factory=dict)
    id_column: str | None = None
    reference_time: datetime
    n_rows: int

    @property
    def is_binary(self) -> bool:
        """True when the target has exactly two classes."""
        return len(self.classes) == 2

    def column(self, name: str) -> ColumnSpec:
        """The spec of feature column ``name``."""
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def outcome_words(self, label: str | None = None) -> str:
        """How an operator reads the predicted event, e.g. ``enrolled`` or ``segment=vip``."""
        label = label if label is not None else self.positive_class
        if self.target_is_boolean and label == self.positive_class:
            return self.target
        return f"{self.target}={label}"


class MetricsWarning(_Frozen):
    """Something an operator must know before trusting the figures."""

    code: WarningCode
    column: str | None = None
    message: str


class SchemaIssue(_Frozen):
    """A difference between a scored file and the training schema that was handled, not ignored."""

    kind: SchemaIssueKind
    column: str | None = None
    count: int = 0
    examples: list[str] = Field(default_factory=list)
    detail: str


class CalibrationBin(_Frozen):
    """Predicted probability against what actually happened, for one probability band."""

    lower: float
    upper: float
    predicted_mean: float
    observed_rate: float
    count: int


class CandidateScore(_Frozen):
    """How one candidate model did in cross-validation (calibrated out-of-fold predictions)."""

    name: CandidateName
    log_loss: float
    roc_auc: float | None
    accuracy: float
    balanced_accuracy: float
    fold_log_loss: list[float]
    fit_seconds: float


class SegmentMetrics(_Frozen):
    """Metrics an operator can trust: every headline figure sits next to what a trivial model scores."""

    source: MetricsSource
    n_rows: int
    classes: list[str]
    positive_class: str | None
    class_counts: dict[str, int]
    base_rate: float
    majority_class: str
    positive_rate: float | None
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    roc_auc: float | None
    log_loss: float
    prior_log_loss: float
    brier: float | None
    lift_at_10pct: float | None
    calibration: list[CalibrationBin]
    calibration_of: str
    candidates: list[CandidateScore] = Field(default_factory=list)
    chosen_model: CandidateName
    selection_criterion: str = "lowest cross-validated log loss of calibrated out-of-fold probabilities"
    n_folds: int | None = None
    warnings: list[MetricsWarning] = Field(default_factory=list)
    schema_issues: list[SchemaIssue] = Field(default_factory=list)


class GateCheck(_Frozen):
    """One promotion check and why it passed or failed."""

    name: str
    passed: bool
    detail: str


class GateDecision(_Frozen):
    """Whether a model may become the active one, with every check spelled out."""

    allowed: bool
    checks: list[GateCheck]

    @property
    def failed(self) -> list[GateCheck]:
        """The checks that refused the model."""
        return [check for check in self.checks if not check.passed]


class Contribution(_Frozen):
    """How much one field of the lead moved the probability, against the field's typical value."""

    field: str
    value: str
    reference: str
    delta: float
    text: str


class SegmentPrediction(_Frozen):
    """The model's answer for one lead.

    ``probability`` is P(positive class) for a binary model (what the playbook's segment thresholds read)
    and P(label) for a multi-class one; ``confidence`` is always P(label).
    """

    label: str
    probability: float
    confidence: float
    positive_class: str | None
    probabilities: dict[str, float]
    contributions: list[Contribution]


class ArtifactInfo(_Frozen):
    """What the registry stores about a saved model file."""

    path: str
    sha256: str
    size_bytes: int
    training_data_hash: str
    chosen_model: CandidateName
    data_schema: DataSchema
