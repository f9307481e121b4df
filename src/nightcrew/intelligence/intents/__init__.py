"""Intent classification, the cheap tier: local, milliseconds, in es/pt/en, with an opt-out keyword layer."""

from nightcrew.intelligence.intents.classifier import (
    IntentModel,
    bundled_holdout_evaluation,
    default_intent_model,
    evaluation_of,
    is_certain_opt_out,
)
from nightcrew.intelligence.intents.encoder import preload_encoder
from nightcrew.intelligence.intents.examples import (
    bundled_examples,
    bundled_split,
    language_eval_set,
    load_examples,
    opt_out_eval_set,
    stratified_split,
)
from nightcrew.intelligence.intents.opt_out import is_opt_out, opt_out_rule
from nightcrew.intelligence.intents.schemas import (
    INTENTS,
    OPT_OUT,
    OTHER,
    ConfusionMatrix,
    IntentClassMetrics,
    IntentEvaluation,
    IntentExample,
    IntentModelMetadata,
    IntentPrediction,
)

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
    "is_certain_opt_out",
    "is_opt_out",
    "language_eval_set",
    "load_examples",
    "opt_out_eval_set",
    "opt_out_rule",
    "preload_encoder",
    "stratified_split",
]
