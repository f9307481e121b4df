"""Lead segments learned from the business's own conversion history.

Train on any CRM export, measure honestly against the trivial model, gate promotion, save with skops,
and classify one lead in milliseconds with the fields that drove the answer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nightcrew.intelligence.segments.artifact import dataset_sha256 as dataset_sha256
    from nightcrew.intelligence.segments.artifact import load_model as load_model
    from nightcrew.intelligence.segments.artifact import model_from_bytes as model_from_bytes
    from nightcrew.intelligence.segments.artifact import model_to_bytes as model_to_bytes
    from nightcrew.intelligence.segments.artifact import save_model as save_model
    from nightcrew.intelligence.segments.evaluation import evaluate_segment_model as evaluate_segment_model
    from nightcrew.intelligence.segments.explain import predict_one as predict_one
    from nightcrew.intelligence.segments.features import parse_crm_csv as parse_crm_csv
    from nightcrew.intelligence.segments.gate import check_promotion as check_promotion
    from nightcrew.intelligence.segments.metrics import render_calibration_table as render_calibration_table
    from nightcrew.intelligence.segments.metrics import render_metrics_table as render_metrics_table
    from nightcrew.intelligence.segments.model import SegmentModel as SegmentModel
    from nightcrew.intelligence.segments.schemas import ArtifactInfo as ArtifactInfo
    from nightcrew.intelligence.segments.schemas import CalibrationBin as CalibrationBin
    from nightcrew.intelligence.segments.schemas import CandidateName as CandidateName
    from nightcrew.intelligence.segments.schemas import CandidateScore as CandidateScore
    from nightcrew.intelligence.segments.schemas import ColumnSpec as ColumnSpec
    from nightcrew.intelligence.segments.schemas import Contribution as Contribution
    from nightcrew.intelligence.segments.schemas import DataSchema as DataSchema
    from nightcrew.intelligence.segments.schemas import GateCheck as GateCheck
    from nightcrew.intelligence.segments.schemas import GateDecision as GateDecision
    from nightcrew.intelligence.segments.schemas import MetricsWarning as MetricsWarning
    from nightcrew.intelligence.segments.schemas import SchemaIssue as SchemaIssue
    from nightcrew.intelligence.segments.schemas import SegmentMetrics as SegmentMetrics
    from nightcrew.intelligence.segments.schemas import SegmentPrediction as SegmentPrediction
    from nightcrew.intelligence.segments.training import ProgressCallback as ProgressCallback
    from nightcrew.intelligence.segments.training import TrainingResult as TrainingResult
    from nightcrew.intelligence.segments.training import train_segment_model as train_segment_model

# Names are loaded on first use (PEP 562): importing the package stays cheap for commands that never need it.
_WHERE: dict[str, str] = {
    "ArtifactInfo": "nightcrew.intelligence.segments.schemas",
    "CalibrationBin": "nightcrew.intelligence.segments.schemas",
    "CandidateName": "nightcrew.intelligence.segments.schemas",
    "CandidateScore": "nightcrew.intelligence.segments.schemas",
    "ColumnSpec": "nightcrew.intelligence.segments.schemas",
    "Contribution": "nightcrew.intelligence.segments.schemas",
    "DataSchema": "nightcrew.intelligence.segments.schemas",
    "GateCheck": "nightcrew.intelligence.segments.schemas",
    "GateDecision": "nightcrew.intelligence.segments.schemas",
    "MetricsWarning": "nightcrew.intelligence.segments.schemas",
    "ProgressCallback": "nightcrew.intelligence.segments.training",
    "SchemaIssue": "nightcrew.intelligence.segments.schemas",
    "SegmentMetrics": "nightcrew.intelligence.segments.schemas",
    "SegmentModel": "nightcrew.intelligence.segments.model",
    "SegmentPrediction": "nightcrew.intelligence.segments.schemas",
    "TrainingResult": "nightcrew.intelligence.segments.training",
    "check_promotion": "nightcrew.intelligence.segments.gate",
    "dataset_sha256": "nightcrew.intelligence.segments.artifact",
    "evaluate_segment_model": "nightcrew.intelligence.segments.evaluation",
    "load_model": "nightcrew.intelligence.segments.artifact",
    "model_from_bytes": "nightcrew.intelligence.segments.artifact",
    "model_to_bytes": "nightcrew.intelligence.segments.artifact",
    "parse_crm_csv": "nightcrew.intelligence.segments.features",
    "predict_one": "nightcrew.intelligence.segments.explain",
    "render_calibration_table": "nightcrew.intelligence.segments.metrics",
    "render_metrics_table": "nightcrew.intelligence.segments.metrics",
    "save_model": "nightcrew.intelligence.segments.artifact",
    "train_segment_model": "nightcrew.intelligence.segments.training",
}

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


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
