"""Lead segments learned from the business's own conversion history.

Train on any CRM export, measure honestly against the trivial model, gate promotion, save with skops,
and classify one lead in milliseconds with the fields that drove the answer.
"""

from nightcrew.intelligence.segments.artifact import (
    dataset_sha256,
    load_model,
    model_from_bytes,
    model_to_bytes,
    save_model,
)
from nightcrew.intelligence.segments.evaluation import evaluate_segment_model
from nightcrew.intelligence.segments.explain import predict_one
from nightcrew.intelligence.segments.features import parse_crm_csv
from nightcrew.intelligence.segments.gate import check_promotion
from nightcrew.intelligence.segments.metrics import render_calibration_table, render_metrics_table
from nightcrew.intelligence.segments.model import SegmentModel
from nightcrew.intelligence.segments.schemas import (
    ArtifactInfo,
    CalibrationBin,
    CandidateName,
    CandidateScore,
    ColumnSpec,
    Contribution,
    DataSchema,
    GateCheck,
    GateDecision,
    MetricsWarning,
    SchemaIssue,
    SegmentMetrics,
    SegmentPrediction,
)
from nightcrew.intelligence.segments.training import ProgressCallback, TrainingResult, train_segment_model

__all__ = [
    "ArtifactInfo",
    "CalibrationBin",
    "CandidateName",
    "CandidateScore",
    "ColumnSpec",
    "Contribution",
    "DataSchema",
    "GateCheck",
    "GateDecision",
    "MetricsWarning",
    "ProgressCallback",
    "SchemaIssue",
    "SegmentMetrics",
    "SegmentModel",
    "SegmentPrediction",
    "TrainingResult",
    "check_promotion",
    "dataset_sha256",
    "evaluate_segment_model",
    "load_model",
    "model_from_bytes",
    "model_to_bytes",
    "parse_crm_csv",
    "predict_one",
    "render_calibration_table",
    "render_metrics_table",
    "save_model",
    "train_segment_model",
]
