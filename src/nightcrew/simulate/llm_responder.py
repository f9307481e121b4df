"""The demo's simulated capable model: writes grounded drafts from the prompt alone, and sometimes misbehaves.

A real LLM reads the prompt the router built (approved facts, contact, plan, language); so does this
one, with plain rules. Now and then it invents an offer, as real models do, so the demo shows the
guardrails stopping it.
"""

from __future__ import annotations

import json
import random
import re
import threading

from nightcrew.simulate.llm_endpoint import ChatRequest

_LANGUAGES = {"Spanish": "es", "Brazilian Portuguese": "pt", "English": "en"}
_GREETING = {"es": "Hola {name}", "pt": "Oi {name}", "en": "Hi {name}"}
_OPENERS = {
    "compose_reply": {
        "es": "gracias por tu mensaje.",
        "pt": "obrigado pela mensagem.",
        "en": "thanks for your message.",
    },
    "compose_outreach": {
        "es": "gracias por tu interés en nuestras clases.",
        "pt": "obrigado pelo interesse nas aulas.",
        "en": "thanks for your interest in our classes.",
    },
    "compose_followup": {
        "es": "te escribo de nuevo por si tienes alguna duda.",
        "pt": "estou passando de novo caso tenha alguma dúvida.",
        "en": "I'm checking in again in case you have any questions.",
    },
}
_CTA = {"es": "Puedes agendar aquí: {url}", "pt": "Você pode agendar aqui: {url}", "en": "You can book here: {url}"}
_INVENTED = {
    "es": "¡Y solo esta semana tienes 30% de descuento si te inscribes hoy!",
    "pt": "E só nesta semana você tem 30% de desconto se fizer a matrícula hoje!",
    "en": "And this week only you get 30% off if you sign up today!",
}


class SimulatedModel:
    """A Responder for SimulatedLLMEndpoint: JSON drafts and labels built from the prompt's own content."""

    def __init__(self, seed: int, misbehave_rate: float = 0.04) -> None:
        self.rng = random.Random(seed)
        self.misbehave_rate = misbehave_rate
        self._lock = threading.Lock()
        self.invented = 0

    def __call__(self, request: ChatRequest) -> str:
        """Answer one chat request the way the router asked (a draft, a label or a summary)."""
        system = request.system
        if '"label"' in system:
            labels = re.findall(r"^- ([a-z_]+)", system, flags=re.MULTILINE)
            return json.dumps({"label": labels[0] if labels else "other", "confidence": 0.5, "reason": "simulated"})
        if '"summary"' in system:
            return json.dumps({"summary": "simulated summary"})
        return json.dumps(self._draft(request), ensure_ascii=False)

    def _draft(self, request: ChatRequest) -> dict[str, object]:
        system, user = request.system, request.last_user()
        language = next((code for name, code in _LANGUAGES.items() if f"Write in {name} only" in system), "es")
        facts = re.findall(r"^(F\d+): (.+)$", system, flags=re.MULTILINE)
        url = re.search(r"Booking link[^:]*: (\S+)", user)
        signature = re.search(r"Sign off as: (.+)", user)
        name = re.search(r"name: ([^;<]+)", user)
        task = (
            "compose_reply"
            if "a reply to" in user
            else ("compose_followup" if "follow-up" in user else "compose_outreach")
        )
        with self._lock:
            fact = self.rng.choice(facts) if facts else None
            invent = self.rng.random() < self.misbehave_rate
            if invent:
                self.invented += 1
        greeting = _GREETING[language].format(name=name.group(1).strip() if name else "").replace(" ,", ",").strip()
        parts = [f"{greeting}, {_OPENERS[task][language]}"]
        if fact:
            parts.append(fact[1])
        if invent:
            parts.append(_INVENTED[language])
        if url:
            parts.append(_CTA[language].format(url=url.group(1)))
        text = " ".join(parts) + (f"\n{signature.group(1).strip()}" if signature else "")
        # A confident model, invented offers included (the claims check, not its self-rating, catches those).
        with self._lock:
            confidence = round(self.rng.uniform(0.75, 0.95), 2)
        return {"text": text, "language": language, "claims_used": [fact[0]] if fact else [], "confidence": confidence}
