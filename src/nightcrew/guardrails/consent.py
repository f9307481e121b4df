"""Consent: no outbound message to a contact who opted out, except the single confirmation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from nightcrew.guardrails.context import GuardrailContext
from nightcrew.guardrails.policy import ConsentPolicy
from nightcrew.guardrails.text import fold, negated, normalize, phrase_pattern, words
from nightcrew.guardrails.verdict import Verdict

CHECK = "consent"

# A message that is only one of these words (politeness aside) opts out, as carriers treat it.
_KEYWORDS = frozenset(
    [
        "stop", "stopall", "unsubscribe", "unsub", "quit", "end", "optout", "baja", "desuscribir", "desuscribirme",
        "sair", "parar", "pare", "parem", "descadastrar", "descadastre", "remover"
    ]
)  # fmt: skip
# Alone, these could mean "cancel the class" or "enough for today": a person reads them.
_AMBIGUOUS_KEYWORDS = frozenset(["cancel", "cancelar", "cancela", "cancelo", "basta", "chega", "para", "alto"])
_POLITENESS = frozenset(
    [
        "por", "favor", "porfa", "porfavor", "pf", "please", "pls", "plz", "gracias", "obrigado", "obrigada", "thanks",
        "thank", "you", "ya", "ja", "now", "ok", "okay", "ahora", "agora"
    ]
)  # fmt: skip
_RESUBSCRIBE = frozenset(["start", "unstop", "subscribe", "alta", "suscribir", "volver"])
# Phrases that opt out anywhere in a message. Some carry their own negation ("no me escriban más").
_PHRASES = [
    "no me escriban mas", "no me escribas mas", "no me escriban", "ya no me escriban", "no me manden mas",
    "no me mandes mas", "no me envien mas", "no me envies mas", "no me contacten", "no me contactes",
    "no me llamen mas", "no quiero recibir mas", "no quiero mas mensajes", "dejen de escribirme",
    "dejen de enviarme", "dejen de mandarme", "dejen de contactarme", "dejen de molestar", "deja de escribirme",
    "deja de enviarme", "no molesten mas", "sacame de la lista", "saquenme de la lista", "saquenme de su lista",
    "borrenme", "borren mi numero", "eliminen mi numero", "eliminenme", "quitenme de la lista",
    "parem de mandar", "pare de mandar", "parem de enviar", "pare de enviar", "pare de me mandar",
    "parem de me mandar", "parem de me enviar", "pare de me enviar", "nao me mandem mais", "nao me mande mais",
    "nao me enviem mais", "nao me envie mais", "nao quero mais receber", "nao quero receber mais",
    "nao quero mais mensagens", "me tira da lista", "me tirem da lista", "me remova", "me removam",
    "remover meu numero", "removam meu numero", "nao me procurem mais", "para de me mandar",
    "stop texting", "stop messaging", "stop sending", "stop contacting", "stop emailing", "stop calling",
    "don't text me", "dont text me", "do not text me", "do not contact me", "don't contact me",
    "dont contact me", "don't message me", "do not message me", "no more messages", "no more texts",
    "leave me alone", "take me off", "remove me from", "remove my number",
]  # fmt: skip
# Phrases whose meaning flips when negated ("no quiero darme de baja").
_NEGATABLE_PHRASES = [
    "darme de baja", "dar de baja", "doy de baja", "denme de baja", "dame de baja", "de baja", "quiero la baja",
    "cancelar la suscripcion", "cancelar mi suscripcion", "desuscribirme", "sair da lista", "quero sair",
    "descadastrar", "descadastre", "cancelar a inscricao na lista", "unsubscribe", "opt out", "opt-out",
    "cancelar os envios", "cancelar as mensagens", "cancelar los mensajes",
]  # fmt: skip
_CONFIRMATIONS = phrase_pattern(
    [
        "no recibiras mas",
        "no recibira mas",
        "no volveras a recibir",
        "no volvera a recibir",
        "te dimos de baja",
        "le dimos de baja",
        "dado de baja",
        "dada de baja",
        "hemos dado de baja",
        "baja confirmada",
        "no te escribiremos mas",
        "no le escribiremos mas",
        "no te enviaremos mas",
        "no le enviaremos mas",
        "nao recebera mais",
        "voce nao recebera",
        "nao enviaremos mais",
        "nao vamos mais",
        "descadastrad",
        "removemos seu numero",
        "removemos o seu numero",
        "you won't receive",
        "you will not receive",
        "you have been unsubscribed",
        "you've been unsubscribed",
        "you are unsubscribed",
        "we won't message",
        "we will not message",
        "we won't text",
        "no more messages from us",
        "you have opted out",
        "you've opted out",
        "te sacamos de la lista",
        "te sacamos de nuestra lista",
        "lo sacamos de la lista",
        "ya no te escribiremos",
        "ya no te enviaremos",
        "ya no le escribiremos",
        "ya no le enviaremos",
        "eliminamos tu numero",
        "borramos tu numero",
        "nao vamos mais te enviar",
        "nao vamos mais enviar",
        "tiramos voce da lista",
        "tiramos seu numero",
        "removed you from",
        "removed your number",
        "won't contact you",
        "won't message you",
        "won't text you",
        "will not contact you",
    ]
)
_PHRASE_PATTERN = phrase_pattern(_PHRASES)
# General shapes: "(ya) no (me) envíen/escriban/manden ... más/mensajes", "chega de mensagens", "don't text me".
_SHAPES = re.compile(
    r"\b(?:ya no|no|nao|favor de no|favor de ya no|por favor no)\s+(?:me\s+)?"
    r"(?:escrib|envi|mand|contact|llam|molest|escrev|lig|procur)\w*(?:\s+(?:me|nos))?\s+"
    r"(?:mas|mais|nada|mensajes|mensagens|promociones|promocoes|promos|publicidad|whatsapps?|sms|correos|emails?)\b"
    r"(?!\s+(?:informacion|informacoes|info|detalles|detalhes|datos|dados|horarios|precios|precos|opciones|opcoes))|"
    r"\b(?:chega|basta|suficiente|enough|no mas|no more)\s+(?:de\s+|with\s+)?(?:mensajes|mensagens|messages|texts|sms|"
    r"whatsapps?|correos|emails|e-mails|promociones|promocoes|ads|spam)\b|"
    r"\b(?:don'?t|do not|no longer|never|please stop|stop)\s+"
    r"(?:text|messag|email|contact|call|send|writ)\w*\s+(?:me|us)\b|"
    r"\b(?:like|want|wish|would like) to (?:opt[- ]?out|unsubscribe|stop (?:getting|receiving))\b"
)
_SERVICE_OBJECT = re.compile(
    r"\s+(?:de\s+)?(?:la|el|las|los|a|o|as|os|mi|mis|my|the|his|her)?\s*(?:clase|clases|curso|cursos|inscripcion|"
    r"matricula|aula|aulas|turma|hijo|hija|filho|filha|class|classes|course|lesson|plan|mensualidad|mensalidade)\b"
)
_NEGATABLE_PATTERN = phrase_pattern(_NEGATABLE_PHRASES)
_URL = re.compile(r"https?://|www\.|\b[a-z0-9-]+\.(?:com|net|org|io|ly|co|me|app|example|br|mx)\b", re.I)


@dataclass(frozen=True)
class OptOutSignal:
    """An inbound message that asks to stop messages, and how sure that reading is."""

    matched: str
    certain: bool


def detect_opt_out(text: str | None, policy: ConsentPolicy | None = None) -> OptOutSignal | None:
    """Whether an inbound message opts out: STOP/BAJA/SAIR/PARAR or a phrase like 'no me escriban más'."""
    if not text or not text.strip():
        return None
    folded = fold(normalize(text))
    tokens = [t for t in words(folded) if t not in _POLITENESS]
    extra_keywords = {fold(k).strip() for k in (policy.opt_out_keywords if policy else [])}
    if len(tokens) == 1 and (tokens[0] in _KEYWORDS or tokens[0] in extra_keywords):
        return OptOutSignal(tokens[0], certain=True)
    if " ".join(tokens) in ("opt out", "stop all", "dar de baja", "darme de baja"):
        return OptOutSignal(" ".join(tokens), certain=True)
    extra = phrase_pattern(policy.opt_out_phrases) if policy and policy.opt_out_phrases else None
    for pattern in (_PHRASE_PATTERN, _SHAPES, extra):
        match = pattern.search(folded) if pattern else None
        if match:
            return OptOutSignal(match.group(), certain=True)
    match = _NEGATABLE_PATTERN.search(folded) if _NEGATABLE_PATTERN else None
    if match and not negated(folded, match.start()):
        # "dar de baja la clase" cancels a class or a course, not the messages: a person reads it.
        return OptOutSignal(match.group(), certain=not _SERVICE_OBJECT.match(folded, match.end()))
    if len(tokens) == 1 and tokens[0] in _AMBIGUOUS_KEYWORDS:
        return OptOutSignal(tokens[0], certain=False)
    # A message that starts with STOP in capitals ("STOP sending me this") opts out whatever follows.
    stripped = normalize(text).strip()
    if re.match(r"(STOP|BAJA|SAIR|PARAR|UNSUBSCRIBE)\b", stripped):
        return OptOutSignal(stripped.split()[0].lower(), certain=True)
    return None


def detect_resubscribe(text: str | None) -> bool:
    """Whether an inbound message asks to receive messages again (START, ALTA, UNSTOP...)."""
    if not text:
        return False
    tokens = [t for t in words(fold(normalize(text))) if t not in _POLITENESS]
    return len(tokens) == 1 and tokens[0] in _RESUBSCRIBE


def is_opt_out_confirmation(text: str) -> bool:
    """Whether a draft reads as the confirmation that the contact will get no more messages."""
    return bool(_CONFIRMATIONS and _CONFIRMATIONS.search(fold(normalize(text))))


def check_consent(text: str, context: GuardrailContext, policy: ConsentPolicy) -> Verdict:
    """Block outbound to an opted-out contact, except one short confirmation right after the opt-out."""
    contact = context.contact
    inbound = context.last_inbound_text
    signal = detect_opt_out(inbound, policy)
    inbound_at = context.last_inbound_at or context.now
    opted_out_at: datetime | None = None
    why = ""
    if contact.consent == "opted_out":
        opted_out_at = contact.opted_out_at
        why = "the contact opted out"
        if inbound is not None and opted_out_at is not None and inbound_at > opted_out_at:
            if detect_resubscribe(inbound):
                return Verdict.passed(CHECK, f"the contact opted back in ('{inbound.strip()}'); update its consent")
            if signal is None:
                return Verdict.review(
                    CHECK, "the contact opted out but has written again; a person decides whether to answer"
                )
    if signal is not None and signal.certain:
        opted_out_at = opted_out_at if opted_out_at and opted_out_at < inbound_at else inbound_at
        why = f"the contact's last message opts out ('{signal.matched}')"
    elif signal is not None and not why:
        return Verdict.review(
            CHECK,
            f"the contact's last message may be an opt-out ('{signal.matched}'); a person reads it",
            matched=signal.matched,
        )
    if why:
        if not is_opt_out_confirmation(text):
            marked = " (marked as the confirmation, but it does not read as one)"
            return Verdict.block(
                CHECK,
                f"{why}: no message except the opt-out confirmation"
                + (marked if context.purpose == "opt_out_confirmation" else ""),
            )
        since = opted_out_at or inbound_at
        already = [s for s in context.recent_sends if s.at >= since]
        if already:
            return Verdict.block(
                CHECK, f"{why}: the single confirmation was already sent at {already[0].at.isoformat()}"
            )
        if len(text) > policy.confirmation_max_chars or _URL.search(text):
            return Verdict.block(CHECK, f"{why}: an opt-out confirmation must be short and carry no links")
        return Verdict.passed(CHECK, f"{why}: this is the single opt-out confirmation")
    if contact.consent != "opted_in" and context.channel in policy.require_opt_in and context.purpose != "reply":
        return Verdict.block(
            CHECK, f"{context.channel} needs an explicit opt-in and the contact's consent is {contact.consent}"
        )
    return Verdict.passed(CHECK, f"consent {contact.consent}; no opt-out")
