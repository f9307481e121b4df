"""Intent classification, the cheap tier: local, milliseconds, in es/pt/en, with an opt-out keyword layer."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nightcrew.intelligence.intents.classifier import IntentModel as IntentModel
    from nightcrew.intelligence.intents.classifier import bundled_holdout_evaluation as bundled_holdout_evaluation
    from nightcrew.intelligence.intents.classifier import default_intent_model as default_intent_model
    from nightcrew.intelligence.intents.classifier import evaluation_of as evaluation_of
    from nightcrew.intelligence.intents.classifier import is_certain_opt_out as is_certain_opt_out
    from nightcrew.intelligence.intents.encoder import preload_encoder as preload_encoder
    from nightcrew.intelligence.intents.examples import bundled_examples as bundled_examples
    from nightcrew.intelligence.intents.examples import language_eval_set as language_eval_set
    from nightcrew.intelligence.intents.examples import load_examples as load_examples
    from nightcrew.intelligence.intents.examples import opt_out_eval_set as opt_out_eval_set
    from nightcrew.intelligence.intents.opt_out import is_opt_out as is_opt_out
    from nightcrew.intelligence.intents.opt_out import opt_out_rule as opt_out_rule
    from nightcrew.intelligence.intents.schemas import INTENTS as INTENTS
    from nightcrew.intelligence.intents.schemas import OPT_OUT as OPT_OUT
    from nightcrew.intelligence.intents.schemas import OTHER as OTHER
    from nightcrew.intelligence.intents.schemas import ConfusionMatrix as ConfusionMatrix
    from nightcrew.intelligence.intents.schemas import IntentClassMetrics as IntentClassMetrics
    from nightcrew.intelligence.intents.schemas import IntentEvaluation as IntentEvaluation
    from nightcrew.intelligence.intents.schemas import IntentExample as IntentExample
    from nightcrew.intelligence.intents.schemas import IntentModelMetadata as IntentModelMetadata
    from nightcrew.intelligence.intents.schemas import IntentPrediction as IntentPrediction
    from nightcrew.intelligence.intents.splits import bundled_split as bundled_split
    from nightcrew.intelligence.intents.splits import grouped_split as grouped_split
    from nightcrew.intelligence.intents.splits import near_duplicate_groups as near_duplicate_groups
    from nightcrew.intelligence.intents.splits import near_duplicate_share as near_duplicate_share

# Names are loaded on first use (PEP 562): importing the package stays cheap for commands that never need it.
_WHERE: dict[str, str] = {
    "ConfusionMatrix": "nightcrew.intelligence.intents.schemas",
    "INTENTS": "nightcrew.intelligence.intents.schemas",
    "IntentClassMetrics": "nightcrew.intelligence.intents.schemas",
    "IntentEvaluation": "nightcrew.intelligence.intents.schemas",
    "IntentExample": "nightcrew.intelligence.intents.schemas",
    "IntentModel": "nightcrew.intelligence.intents.classifier",
    "IntentModelMetadata": "nightcrew.intelligence.intents.schemas",
    "IntentPrediction": "nightcrew.intelligence.intents.schemas",
    "OPT_OUT": "nightcrew.intelligence.intents.schemas",
    "OTHER": "nightcrew.intelligence.intents.schemas",
    "bundled_examples": "nightcrew.intelligence.intents.examples",
    "bundled_holdout_evaluation": "nightcrew.intelligence.intents.classifier",
    "bundled_split": "nightcrew.intelligence.intents.splits",
    "default_intent_model": "nightcrew.intelligence.intents.classifier",
    "evaluation_of": "nightcrew.intelligence.intents.classifier",
    "grouped_split": "nightcrew.intelligence.intents.splits",
    "is_certain_opt_out": "nightcrew.intelligence.intents.classifier",
    "is_opt_out": "nightcrew.intelligence.intents.opt_out",
    "language_eval_set": "nightcrew.intelligence.intents.examples",
    "load_examples": "nightcrew.intelligence.intents.examples",
    "near_duplicate_groups": "nightcrew.intelligence.intents.splits",
    "near_duplicate_share": "nightcrew.intelligence.intents.splits",
    "opt_out_eval_set": "nightcrew.intelligence.intents.examples",
    "opt_out_rule": "nightcrew.intelligence.intents.opt_out",
    "preload_encoder": "nightcrew.intelligence.intents.encoder",
}

__all__ = [
    "INTENTS",
    "OPT_OUT",
    "OTHER",
    "ConfusionMatrix",
    "IntentClassMetrics",
    "IntentEvaluation",
    "IntentExample",
    "IntentModel",
    "IntentModelMetadata",
    "IntentPrediction",
    "bundled_examples",
    "bundled_holdout_evaluation",
    "bundled_split",
    "default_intent_model",
    "evaluation_of",
    "grouped_split",
    "is_certain_opt_out",
    "is_opt_out",
    "language_eval_set",
    "load_examples",
    "near_duplicate_groups",
    "near_duplicate_share",
    "opt_out_eval_set",
    "opt_out_rule",
    "preload_encoder",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
