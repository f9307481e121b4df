"""Pydantic models in and out of the intent classifier (all JSON-dumpable)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The demo business's intents; ``other`` is what predict() answers below the confidence threshold.
INTENTS: tuple[str, ...] = (
    "booking",
    "pricing",
    "schedule",
    "program_info",
    "reschedule",
    "cancel",
    "complaint",
    "opt_out",
    "human",
    "not_interested",
)
OTHER = "other"
OPT_OUT = "opt_out"
INTENT_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


class IntentExample(BaseModel):
    """One labelled message: what a contact wrote and what they wanted."""

    model_config = ConfigDict(frozen=True)

    text: str = Field(min_length=1)
    intent: str = Field(pattern=INTENT_NAME_PATTERN)
    language: str | None = None

    @field_validator("text")
    @classmethod
    def _has_content(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is blank")
        return value

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return value.strip().lower()


class IntentPrediction(BaseModel):
    """The intent of one message, its probability, the best alternative and every class's probability.

    ``intent`` is ``other`` when the top probability is below the threshold; then ``confidence`` is that
    top probability and ``runner_up`` names the intent that fell short. ``rule`` names the opt-out
    keyword rule when it, not the model, decided (confidence 1.0).
    """

    intent: str
    confidence: float = Field(ge=0.0, le=1.0)
    runner_up: str | None
    scores: dict[str, float]
    rule: str | None = None


class IntentClassMetrics(BaseModel):
    """Precision, recall and F1 of one intent, and how many examples had it."""

    precision: float
    recall: float
    f1: float
    support: int


class ConfusionMatrix(BaseModel):
    """Rows are the true intents, columns the predicted ones, both in ``labels`` order."""

    labels: list[str]
    matrix: list[list[int]]


class IntentEvaluation(BaseModel):
    """How well a model labels a set of examples (at a given threshold)."""

    n_examples: int
    threshold: float
    accuracy: float
    macro_f1: float
    per_intent: dict[str, IntentClassMetrics]
    confusion: ConfusionMatrix
    per_language_macro_f1: dict[str, float]
    predicted_other: int


class IntentModelMetadata(BaseModel):
    """What is saved next to a model: enough to know what it is and what it was trained on.

    Format 1: USE embeddings into logistic regression (``classifier.skops`` holds the regression); format 2:
    word and character TF-IDF beside the weighted embeddings (it holds the regression and the vectorizers).
    """

    format_version: int = 1
    model_kind: str
    encoder: str
    regularisation_c: float
    intents: list[str]
    trained_at: datetime | None
    n_examples: int
    examples_per_language: dict[str, int]
    data_sha256: str
    sklearn_version: str
    use_weight: float | None = None  # format 2: the embedding block's weight beside the TF-IDF blocks
    n_features: int | None = None
    metrics: IntentEvaluation | None = None
    classifier_sha256: str | None = None  # set when saved; load() refuses a classifier file that differs
