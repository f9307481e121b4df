"""The agent's cheap-tier decisions as pure functions of a model and an input: the workflows, replay and
shadow simulation all decide through these, so a replay answers the question the workflow answered."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nightcrew.playbook.schemas import Playbook

if TYPE_CHECKING:
    from nightcrew.intelligence.intents import IntentModel
    from nightcrew.intelligence.segments import SegmentModel


def decide_segment(
    playbook: Playbook, model: SegmentModel | None, version: int | None, fields: dict[str, Any]
) -> dict[str, Any]:
    """The model's segment for a lead and why, or the playbook's default when no model is promoted."""
    if model is None:
        return {
            "segment": playbook.default_segment,
            "probability": None,
            "confidence": None,
            "model": "playbook-default",
            "why": [],
            "reason": "no active lead model: playbook default segment",
        }
    from nightcrew.intelligence.segments import predict_one

    prediction = predict_one(model, fields)
    binary = prediction.positive_class is not None
    segment = playbook.segment_for_probability(prediction.probability) if binary else prediction.label
    if not binary and segment not in {s.name for s in playbook.segments}:
        segment = playbook.default_segment
    why = [contribution.text for contribution in prediction.contributions]
    what = (
        f"P({model.schema.target})={prediction.probability:.2f} -> {segment}"
        if binary
        else f"{prediction.label} at {prediction.confidence:.2f}"
    )
    return {
        "segment": segment,
        "probability": round(prediction.probability, 4),
        "confidence": round(prediction.confidence, 4),
        "model": f"lead-model-v{version}",
        "why": why,
        "reason": f"{what}; " + ("; ".join(why) if why else "no single field stood out"),
    }


def decide_language_and_intent(playbook: Playbook, model: IntentModel, text: str, prior: str | None) -> dict[str, Any]:
    """The cheap tier's reading of an inbound message: language (with the prior) and intent (or other)."""
    from nightcrew.intelligence.language import detect_language

    guess = detect_language(text, playbook.languages, prior=prior, default=playbook.business.default_language)
    prediction = model.predict(text, playbook.thresholds.intent_confidence)
    return {
        "language": guess.language,
        "language_confidence": round(guess.confidence, 3),
        "intent": prediction.intent,
        "confidence": round(prediction.confidence, 3),
        "runner_up": prediction.runner_up,
        "rule": prediction.rule,
    }
