"""Injection: inbound text that tries to instruct the agent is flagged and never changes policy."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nightcrew.guardrails.context import GuardrailContext
from nightcrew.guardrails.policy import InjectionPolicy
from nightcrew.guardrails.text import fold, normalize, phrase_pattern
from nightcrew.guardrails.verdict import Verdict

CHECK = "injection"

_INSTRUCTIONS = (
    r"(?:instructions?|instrucciones|instrucoes|rules?|reglas|regras|prompts?|guidelines?|directives?|"
    r"indicaciones|orientacoes|ordenes|ordens|polic(?:y|ies)|politicas?|restrictions?|restricciones|restricoes|"
    r"programming|programacion|programacao|configuracion|configuracao)"
)
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "override",
        re.compile(
            r"\b(?:ignore|ignora|ignoren|ignorar|ignorem|disregard|forget|olvida|olvide|olviden|olvidate|olvidar|"
            r"omite|omitir|descarta|esqueca|esquece|esquecer|esquecam|desconsidere|desconsidera|desconsiderar|"
            r"override|bypass|skip)\b.{0,50}?\b" + _INSTRUCTIONS + r"\b"
        ),
    ),
    (
        "override",
        re.compile(
            r"\b(?:forget|olvida|olvide|olvidate|esqueca|esquece)\s+(?:todo|tudo|everything)\b.{0,30}?"
            r"\b(?:dijeron|dijo|disseram|falaram|told|said|before|above|anterior|antes|instruct\w*|instrucciones|instrucoes)\b"
        ),
    ),
    (
        "output control",
        re.compile(
            r"\b(?:responde|responda|responder|contesta|conteste|reply|answer|respond|write|escribe|escreva)\s+"
            r"(?:solo|solamente|unicamente|only|just|apenas|somente|exactly|exactamente|exatamente)\s+(?:con|with|com|:)"
        ),
    ),
    (
        "system prompt",
        re.compile(
            r"\b(?:system|hidden|initial|original|secret)\s+(?:prompt|instructions?|message)\b|"
            r"\b(?:prompt|mensaje|instrucciones|mensagem|instrucoes)\s+(?:del|de|do)\s+sistema\b|"
            r"\b(?:reveal|show|print|repeat|display|output|tell me|what are|muestrame|muestra|dime|revela|repite|"
            r"ensename|cuales son|mostre|mostra|me diga|me mostre|revele|repita|quais sao)\b.{0,30}?"
            r"\b(?:your|tus|sus|suas|tuas|as|las|the)\b.{0,20}?\b" + _INSTRUCTIONS + r"\b|"
            r"\brepeat (?:the|everything) (?:text|words) above\b|"
            r"\b(?:system|admin|developer)\s*(?:override|update|command|notice|mode)\b|^\W*(?:system|admin|developer)\s*:"
        ),
    ),
    (
        "role-play",
        re.compile(
            r"\b(?:you are now|you're now|from now on you|act as|acting as|"
            r"pretend (?:to be|you are|you're|youre|that|to)|"
            r"imagine (?:you are|you're|that you)|imagina que (?:eres|seas)|imagine que (?:voce|tu) (?:e|seja)|"
            r"roleplay|role-play|role play|ahora eres|a partir de ahora (?:eres|seras|actua|vas a)|actua como|"
            r"actue como|comportate como|finge que|fingir que|haz de cuenta que|juego de rol|agora voce e|"
            r"a partir de agora (?:voce|tu|seja)|aja como|atue como|finja que|finja ser|se comporte como|"
            r"developer mode|modo desarrollador|modo desenvolvedor|modo dios|god mode|jailbreak|"
            r"do anything now|dan mode)\b"
        ),
    ),
    (
        "authority",
        re.compile(
            r"\b(?:i am|i'm|soy|sou)\s+(?:the|el|la|o|a|your|tu|seu)?\s*(?:owner|admin|administrator|developer|"
            r"manager|ceo|director|dueno|duena|gerente|administrador|desarrollador|desenvolvedor|dono|dona|"
            r"diretor|diretora|directora)\b.{0,60}?\b(?:authori[sz]\w*|approv\w*|allow\w*|permit\w*|autoriz\w*|"
            r"apruebo|aprovo|you can|you may|puedes|podes|pode|tienes permiso|tem permissao)\b|"
            r"\b(?:new|nuevas|novas)\s+(?:instructions|instrucciones|instrucoes|rules|reglas|regras)\b"
        ),
    ),
    (
        "markup",
        re.compile(
            r"<\|?\s*(?:im_start|im_end|system|endoftext)|\[/?(?:system|inst)\]|#{2,}\s*(?:system|instruction)|```\s*system"
        ),
    ),
]
# A draft that talks about its own instructions, or plays along, has been steered.
_COMPLIANCE = re.compile(
    r"\b(?:as an ai(?: language model)?|como (?:un )?modelo de lenguaje|como uma? (?:ia|modelo de linguagem)|"
    r"system prompt|prompt del sistema|prompt do sistema|my instructions|mis instrucciones|minhas instrucoes|"
    r"i (?:will|'ll) ignore|ignorare|vou ignorar|as you (?:asked|requested|instructed)|como (?:pediste|solicitaste|"
    r"me pediste|ordenaste)|conforme (?:solicitado|pedido)|como voce pediu|developer mode|modo desarrollador|"
    r"modo desenvolvedor|i am now|ahora soy|agora sou|new instructions|nuevas instrucciones|novas instrucoes)\b"
)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_DEMAND_NUMBER = re.compile(r"\d+(?:[.,]\d+)?\s*%|\$\s?\d[\d.,]*|\d[\d.,]*\s*(?:pesos|reais|dolares|dollars|usd)")


# An override names whose instructions: previous, above, your, all, the system's.
_OVERRIDE_QUALIFIER = re.compile(
    r"\b(?:previous|prior|above|earlier|all|any|your|system|tus|tu|sus|su|todas|todos|anteriores|anterior|previas|"
    r"del sistema|suas|sua|tuas|do sistema|original|originales|originais|these|those|esas|essas|todo|tudo|everything)\b"
)


@dataclass(frozen=True)
class InjectionSignal:
    """An inbound message that tries to instruct the agent: which kind and the words that gave it away."""

    kind: str
    matched: str


def _variants(text: str) -> list[str]:
    folded = fold(normalize(text))
    collapsed = re.sub(r"\b(?:\w[ .*_-]){3,}\w\b", lambda m: re.sub(r"[ .*_-]", "", m.group()), folded)
    return [folded, collapsed, collapsed.translate(_LEET)]


def detect_injection(text: str | None, policy: InjectionPolicy | None = None) -> InjectionSignal | None:
    """Whether an inbound message tries to instruct the agent (override, system prompt, role-play, authority)."""
    if not text:
        return None
    extra = phrase_pattern(policy.phrases) if policy and policy.phrases else None
    for variant in _variants(text):
        for kind, pattern in _PATTERNS:
            for match in pattern.finditer(variant):
                # The qualifier may follow the noun: "ignore as instruções anteriores".
                if kind != "override" or _OVERRIDE_QUALIFIER.search(variant, match.start(), match.end() + 30):
                    return InjectionSignal(kind, match.group())
        configured = extra.search(variant) if extra else None
        if configured:
            return InjectionSignal("configured phrase", configured.group())
    return None


def _echoes(draft: str, inbound: str) -> str | None:
    """What of an injected demand the draft repeats (a percentage, an amount) or a sign it played along."""
    folded = fold(normalize(draft))
    compliance = _COMPLIANCE.search(folded)
    if compliance:
        return compliance.group()
    demanded = {re.sub(r"\s", "", m.group()) for m in _DEMAND_NUMBER.finditer(fold(normalize(inbound)))}
    said = {re.sub(r"\s", "", m.group()) for m in _DEMAND_NUMBER.finditer(folded)}
    echoed = sorted(demanded & said)
    return echoed[0] if echoed else None


def check_injection(text: str, context: GuardrailContext, policy: InjectionPolicy) -> Verdict:
    """Flag an injected inbound; route the draft to review when an LLM wrote it or it echoes the demand."""
    inbound = context.last_inbound_text
    signal = detect_injection(inbound, policy)
    leaked = _COMPLIANCE.search(fold(normalize(text))) if context.draft_source == "llm" else None
    if signal is None or inbound is None:
        if leaked:
            return Verdict.review(CHECK, f"the draft talks about its own instructions ('{leaked.group()}')")
        return Verdict.passed(CHECK, "no instructions to the agent in the inbound message")
    flagged = f"inbound message tries to instruct the agent ({signal.kind}: '{signal.matched[:60]}')"
    echo = _echoes(text, inbound)
    evidence = {"kind": signal.kind, "matched": signal.matched[:120]}
    if echo:
        return Verdict.review(CHECK, f"{flagged}; the draft echoes it ('{echo}')", **evidence)
    if context.draft_source == "llm" and policy.review_llm_drafts:
        return Verdict.review(CHECK, f"{flagged}; the draft was written by a model that read it", **evidence)
    return Verdict.passed(CHECK, f"{flagged}; the {context.draft_source} draft does not follow it")
