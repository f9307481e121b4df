"""Promises and claims: discounts, guarantees, results, availability and dates only when approved."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from nightcrew.guardrails.numwords import read_number
from nightcrew.guardrails.policy import PolicySet
from nightcrew.guardrails.prices import find_amounts, products_in_scope
from nightcrew.guardrails.text import Span, enclosing, fold, negated, normalize, phrase_pattern, sentences, words
from nightcrew.guardrails.verdict import Verdict

CHECK = "claims"

_STOPWORDS = frozenset(
    [
        "a", "al", "de", "del", "el", "la", "las", "los", "lo", "le", "les", "un", "una", "unos", "unas", "y", "o", "e",
        "en", "es", "son", "que", "con", "por", "para", "su", "sus", "se", "no", "mas", "o", "os", "as", "um", "uma",
        "do", "da", "dos", "das", "em", "no", "na", "nos", "nas", "e", "com", "por", "para", "seu", "sua", "ao", "aos",
        "pra", "the", "an", "and", "or", "of", "to", "in", "on", "for", "is", "are", "be", "it", "its", "with", "your",
        "you", "our", "we", "at", "by"
    ]
)  # fmt: skip
_DISCOUNT_WORDS = re.compile(
    r"\b(descuentos?|dcto|desconto|descontos|discounts?|discounted|rebajas?|rebajad\w*|promocion(?:es)?|promo|"
    r"promocao|promocoes|precio especial|preco especial|special (?:price|offer|deal)|oferta especial|"
    r"ofertas?|2\s?x\s?1|dos por uno|dois por um|two for one|cupon(?:es)?|cupom|cupons|coupons?|"
    r"codigo de descuento|cashback|bonificacion|becas?|bolsas? de estudos?|scholarships?|"
    r"te regalamos|le regalamos|les regalamos|de regalo|regalamos|brinde|de presente|ganhe|freebie|"
    r"mes gratis|primer mes gratis|primeiro mes gratis|mes gratuito|first month free|free month|"
    r"semana gratis|semana gratuita|free week|isent[oa]s?|exent[oa]s?|exoneramos|waived?|"
    r"precio de amigo|preco de amigo|preco camarada|precio preferencial|preco preferencial|"
    r"condicion(?:es)? especial(?:es)?|condicao especial|condicoes especiais|special (?:conditions|terms)|"
    r"price match\w*|match (?:any|their|your) (?:[\w']+ )?price|igualamos (?:el|cualquier) precio|"
    r"cobrimos (?:qualquer|o) preco|"
    r"(?:hacer|ver) algo con el precio|(?:mejorar|ajustar|negociar|rebajar) el precio|negociar o preco|"
    r"dar um jeito no preco|work something out)\b|\d\s?% off\b"
)
_PERCENT = re.compile(r"(?<![\d.,])(\d{1,3}(?:[.,]\d+)?)\s*(?:%|por\s*ciento|por\s*cento|percent\b|pct\b)")
_PERCENT_WORDS = re.compile(r"((?:[a-z]+[\s-]+){1,4})(?:por\s+ciento|por\s+cento|percent)\b")
_GUARANTEE = re.compile(
    r"\b(garant\w*|guarant\w*|te aseguro|le aseguro|les aseguro|te aseguramos|le aseguramos|les aseguramos|"
    r"aseguramos que|asegurad[oa]s?|asseguro|asseguramos|assegurad[oa]s?|prometo|prometemos|prometid[oa]|"
    r"we promise|i promise|promise you|sin riesgo|sem risco|risk[- ]free|money[- ]back|"
    r"devolv\w+ (?:el|su|tu|todo el) dinero|devolvemos|reembols\w*|refund\w*|dinheiro de volta|"
    r"seguro que (?:aprend|habl|va a|vai)\w*)\b"
)
_RESULT = re.compile(
    r"\b(fluid[oa]s?|fluidez|fluent\w*|fluente\w*|fluencia|bilingue\w*|bilingual|como (?:un|una|um|uma) nativ[oa]|"
    r"like a native|native[- ]like|perfect english|ingles perfecto|ingles perfeito|"
    r"mejores notas|melhores notas|better grades|top grades|notas mas altas|"
    r"(?:subir|mejorar) (?:sus|las) (?:notas|calificaciones)|melhorar (?:as|suas) notas|"
    r"improve (?:his|her|their) grades)\b"
)
_EXAM = re.compile(
    r"\b(aprob\w+|pasar|pase|pasara|passar|passe|passara|pass|passes|passed)\b[^.!?]{0,30}?"
    r"\b(examen\w*|exame\w*|provas?|exams?|tests?|toefl|ielts|cambridge|certifica\w*)\b"
)
_DURATION = re.compile(
    r"\b(?:en|em|in|dentro de|within|after|despues de|depois de|al cabo de)\s+(?:solo\s+|apenas\s+|just\s+|only\s+)?"
    r"(?:\d+|un|una|unos|dos|tres|cuatro|cinco|seis|doce|um|uma|dois|duas|tres|two|three|four|six|twelve|a|one|few|"
    r"pocas|pocos|poucas|poucos)\s+(?:dias|semanas|meses|anos|days|weeks|months|years)\b"
)
# Ways to say "soon" or "surely" that turn a sentence about learning into a promised result.
_RESULT_CUES = re.compile(
    r"\b(?:desde (?:el|la|o|a) (?:primer|primera|primeiro|primeira) (?:mes|dia|semana|clase|aula)|"
    r"from the (?:very )?first (?:class|lesson|month|week|day)|en poco tiempo|em pouco tempo|in no time|"
    r"rapidinho|rapidito|definitely|for sure|con seguridad|sin duda|com certeza|sem duvida|certainly|"
    r"by (?:christmas|summer|the end of the year|next year)|para (?:navidad|diciembre|fin de ano|el verano)|"
    r"ate o (?:natal|fim do ano)|sair falando|sai falando|saldra hablando|salir hablando|come out speaking|"
    r"al (?:terminar|acabar|finalizar) (?:el|la) (?:primer|primera|curso|nivel|programa|modulo)\w*|"
    r"al final del? (?:curso|nivel|programa|primer\w*)|"
    r"ao (?:terminar|final d)\w* (?:o |a )?(?:curso|nivel|programa|modulo)|"
    r"by the end of (?:the )?(?:course|level|program|term|first \w+)|after (?:the )?(?:first )?(?:level|course|term))\b"
)
_LEARN = re.compile(
    r"\b(habl\w*|aprend\w*|domin\w*|falar|fala|falara|falando|fale|speak\w*|learn\w*|master\w*|leer|lee|ler|"
    r"read\w*|escrib\w*|escrev\w*|writ\w*|entend\w*|understand\w*|sabra|sabera|will know|vai saber|"
    r"convers\w*|comunic\w*|pronunci\w*|podra|podera|will be able)\b"
)
_AVAILABILITY = re.compile(
    r"\b(ultim[oa]s?\s+(?:\d+\s+)?(?:cupos?|lugar(?:es)?|plazas?|vagas?|vacantes?|espacios?)|"
    r"last\s+(?:\d+\s+|few\s+)?(?:spots?|places?|seats?|openings?)|"
    r"(?:solo|so|apenas|only|just)\s+(?:quedan\s+|restam\s+|sobram\s+|ficam\s+|have\s+|tenemos\s+|temos\s+)?"
    r"(?:\d+|una?|dos|tres|duas|two|three|a few|few)\s+(?:\w+\s+)?(?:cupos?|lugar(?:es)?|plazas?|vagas?|vacantes?|"
    r"spots?|places?|seats?)(?:\s+(?:left|disponibles?|disponiveis|libres?))?|"
    r"quedan pocos\w*|quedan (?:\d+|dos|tres) \w+|restam poucas?\w*|restam (?:\d+|duas|tres) \w+|"
    r"(?:cupos?|lugar(?:es)?|plazas?|vagas?|vacantes?|spots?|places?|seats?)\s+(?:limitad\w*|limited)|"
    r"limited\s+(?:spots?|places?|seats?|availability)|se (?:estan )?agot\w*|estao acabando|esgotand\w*|"
    r"filling up|going fast|casi llen[oa]s?|quase lotad[oa]s?|almost full|"
    r"(?:cupos?|lugares|vagas?|spots?) (?:vuelan|voam|voando)|"
    r"(?:vuelan|se acaban|se llenan|se estan llenando) (?:los )?(?:cupos|lugares)|"
    r"(?:as )?vagas (?:estao )?(?:acabando|voando)|"
    r"(?:cupo|lugar|plaza|vaga|spot|seat|place)\s+(?:garantizad\w*|garantid\w*|guaranteed|asegurad\w*)|"
    r"(?:hay|tenemos|todavia hay|aun hay|aun tenemos|temos|ainda temos|ainda ha|we have|we still have|there are|"
    r"there is|there's)\s+(?:\w+\s+)?(?:cupos?|lugar(?:es)?|plazas?|vagas?|vacantes?|spots?|openings?|seats?)"
    r"(?:\s+(?:disponibles?|disponiveis|available|left|open|libres?|livres?))?)\b"
)
_URGENCY = re.compile(
    r"\b(solo por hoy|solo hoy|so hoje|somente hoje|apenas hoje|today only|only today|just today|"
    r"por tiempo limitado|por tempo limitado|limited time|ultima oportunidad|ultima chance|last chance|"
    r"antes de que se acab\w+|antes que acab\w+|before (?:it's|its|they're) gone|apurate|apresse-se|"
    r"hurry|no te lo pierdas|nao perca|don't miss (?:out|this)|oferta (?:valida|termina|vence)|"
    r"offer (?:ends|expires|valid)|"
    r"(?:vale|valid[oa]|good) (?:so |solo |only |apenas |somente )?(?:ate|hasta|until|till)|"
    r"don't wait|dont wait|no esperes|no espere|nao espere|nao perca tempo)\b"
)
_DEADLINE = re.compile(
    r"\b(?:hasta|valid[oa] hasta|vence|vencen|expira\w*|expires?|termina|terminan|acaba|ends?|until|till|ate|"
    r"close|closes|cierra|cierran|se cierra|se cierran|fecha|fecham|encerra|encerram|"
    r"valid[oa] ate|antes del?|before)\s+(?:el\s+|la\s+|o\s+|a\s+|this\s+|next\s+|este\s+|esta\s+|proximo\s+|"
    r"el proximo\s+)?(?:hoy|manana|hoje|amanha|today|tonight|tomorrow|lunes|martes|miercoles|jueves|viernes|"
    r"sabado|domingo|segunda|terca|quarta|quinta|sexta|monday|tuesday|wednesday|thursday|friday|saturday|"
    r"sunday|fin de mes|final do mes|fim do mes|end of (?:the )?month|\d{1,2}(?:\s+de\s+[a-z]+)?|medianoche|"
    r"meia-noite|midnight)\b"
)
_OFFER_CONTEXT = re.compile(
    r"\b(descuento\w*|desconto\w*|discount\w*|promo\w*|oferta\w*|offer\w*|precio\w*|preco\w*|prices?|"
    r"inscri\w*|matricul\w*|enrol\w*|cupos?|vagas?|spots?|gratis|gratuit\w*|free|beca\w*|bolsa\w*|"
    r"condicion\w*|condica\w*|condico\w*|conditions?|deal|beneficio\w*|benefits?)\b|%|\$"
)
_SUPERLATIVE = re.compile(
    r"\b((?:la|el|a|o|the)\s+(?:mejor(?:es)?|melhor(?:es)?|best)|numero (?:1|uno|um)|number (?:1|one)|#\s?1|"
    r"no\.\s?1|lider(?:es)? (?:en|no|do)|leaders? in|la unica|a unica|the only)\s+"
    r"(?:academias?|escuelas?|escolas?|schools?|academy|opcion|opcao|option|programas?|programs?|cursos?|courses?|"
    r"metodos?|methods?|de (?:latinoamerica|america latina|mexico|colombia|brasil|peru)|do brasil|"
    r"in (?:latin america|the world|mexico|brazil))\b"
)
# Credentials beyond the approved facts ("certified" is approved; "native" is not).
_CREDENTIAL = re.compile(
    r"\b(?:profesor\w*|professor\w*|teachers?|tutor\w*|maestr\w*|docentes?)\b[^.!?]{0,40}?"
    r"\b(nativ[oa]s?|native(?:[- ]speak\w*)?|bilingue\w*|de harvard|de cambridge|from (?:harvard|cambridge|oxford)|"
    r"phd|doctorad\w*|doutorad\w*)\b"
)
_MONTHS = {
    "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7, "agosto": 8,
    "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11, "diciembre": 12, "janeiro": 1,
    "fevereiro": 2, "marco": 3, "maio": 5, "junho": 6, "julho": 7, "setembro": 9, "outubro": 10,
    "novembro": 11, "dezembro": 12, "january": 1, "february": 2, "march": 3, "april": 4, "june": 6,
    "july": 7, "august": 8, "september": 9, "sept": 9, "october": 10, "november": 11, "december": 12,
}  # fmt: skip
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WEEKDAY_RE = (
    "lunes|martes|miercoles|jueves|viernes|sabado|domingo|segunda(?:-feira)?|terca(?:-feira)?|quarta(?:-feira)?|"
    "quinta(?:-feira)?|sexta(?:-feira)?|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
)
_DATE_PATTERNS = [
    (re.compile(rf"\b(\d{{1,2}})(?:o|er)?\s+de\s+({_MONTH_RE})\b"), "dm"),
    (re.compile(rf"\b({_MONTH_RE})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b"), "md"),
    (re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_RE})\b"), "dm"),
    (re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})(?:/\d{2,4})?(?![\d/])"), "numeric"),
    (re.compile(rf"\b(?:{_WEEKDAY_RE})\s+(\d{{1,2}})\b(?!\s*(?::|h\b|hs\b|am\b|pm\b|horas|hours))"), "d"),
]


@dataclass(frozen=True)
class Claim:
    """A promise or claim a draft makes, where, and what kind."""

    kind: str
    start: int
    end: int
    text: str
    percent: Decimal | None = None


@dataclass(frozen=True)
class _Approved:
    folded: str
    tokens: frozenset[str]
    numbers: frozenset[str]


def _content(tokens: Iterable[str]) -> set[str]:
    return {t for t in tokens if t not in _STOPWORDS}


def _numbers(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\d+", text))


def _approved_items(texts: Iterable[str]) -> list[_Approved]:
    items = []
    for text in texts:
        folded = fold(normalize(text))
        items.append(_Approved(folded, frozenset(_content(words(folded))), _numbers(folded)))
    return items


def _covered(claim: Claim, folded: str, sentence: Span, approved: Sequence[_Approved]) -> bool:
    """Whether the sentence restates an approved text that itself makes this claim."""
    trigger = _content(words(claim.text)) or set(words(claim.text))
    numbers = _numbers(claim.text)
    said = _content(words(folded[sentence.start : sentence.end]))
    for item in approved:
        if not trigger <= item.tokens or not numbers <= item.numbers:
            continue
        # Times and figures in the fact ("a las 17:00") need not be repeated; its words must be.
        wording = {t for t in item.tokens if not t.isdigit()}
        if wording and len(wording & said) / len(wording) >= 0.7:
            return True
    return False


def _percent_words(folded: str) -> list[tuple[int, int, Decimal]]:
    found = []
    for match in _PERCENT_WORDS.finditer(folded):
        tokens = words(match.group(1))
        for i in range(len(tokens)):
            number = read_number(tokens[i:])
            if number is not None and number.tokens == len(tokens) - i and not number.only_article:
                start = match.start(1) + match.group(1).rfind(tokens[i]) if i else match.start(1)
                found.append((start, match.end(), Decimal(number.value)))
                break
    return found


def find_claims(text: str) -> list[Claim]:
    """Every discount, guarantee, result, availability, urgency, superlative and date claim in a draft."""
    text = normalize(text)
    folded = fold(text)
    spans = sentences(text)
    claims: list[Claim] = []
    percents = [(m.start(), m.end(), Decimal(m.group(1).replace(",", "."))) for m in _PERCENT.finditer(folded)]
    for start, end, value in percents + _percent_words(folded):
        sentence = enclosing(spans, start) or Span(0, len(text))
        discount = _DISCOUNT_WORDS.search(folded, sentence.start, sentence.end)
        kind = "discount" if discount else "statistic"
        claims.append(Claim(kind, start, end, folded[start:end], value))
    discounted = {enclosing(spans, c.start) for c in claims if c.kind == "discount"}
    for match in _DISCOUNT_WORDS.finditer(folded):
        if enclosing(spans, match.start()) not in discounted and not negated(folded, match.start()):
            claims.append(Claim("discount", match.start(), match.end(), match.group()))
    for kind, pattern in (
        ("guarantee", _GUARANTEE), ("result", _RESULT), ("result", _EXAM), ("availability", _AVAILABILITY),
        ("urgency", _URGENCY), ("superlative", _SUPERLATIVE), ("credential", _CREDENTIAL),
    ):  # fmt: skip
        for match in pattern.finditer(folded):
            if not negated(folded, match.start()):
                claims.append(Claim(kind, match.start(), match.end(), match.group()))
    for match in [*_DURATION.finditer(folded), *_RESULT_CUES.finditer(folded)]:
        sentence = enclosing(spans, match.start()) or Span(0, len(text))
        if _LEARN.search(folded, sentence.start, sentence.end) and not negated(folded, match.start()):
            claims.append(Claim("result", match.start(), match.end(), match.group()))
    for match in _DEADLINE.finditer(folded):
        sentence = enclosing(spans, match.start()) or Span(0, len(text))
        if _OFFER_CONTEXT.search(folded, sentence.start, sentence.end):
            claims.append(Claim("deadline", match.start(), match.end(), match.group()))
    for start, end, _ in _dates(folded):
        claims.append(Claim("date", start, end, folded[start:end]))
    return sorted(claims, key=lambda c: c.start)


def _dates(folded: str) -> list[tuple[int, int, tuple[int | None, int | None]]]:
    """Calendar dates as (start, end, (day, month)); month None when only a weekday and day are given."""
    found: list[tuple[int, int, tuple[int | None, int | None]]] = []
    for pattern, shape in _DATE_PATTERNS:
        for match in pattern.finditer(folded):
            if any(s <= match.start() < e for s, e, _ in found):
                continue
            if shape == "dm":
                day, month = int(match.group(1)), _MONTHS[match.group(2)]
            elif shape == "md":
                day, month = int(match.group(2)), _MONTHS[match.group(1)]
            elif shape == "numeric":
                day, month = int(match.group(1)), int(match.group(2))
                if not (1 <= day <= 31 and 1 <= month <= 12) and not (1 <= month <= 31 and 1 <= day <= 12):
                    continue
            else:
                found.append((match.start(), match.end(), (int(match.group(1)), None)))
                continue
            if 1 <= day <= 31:
                found.append((match.start(), match.end(), (day, month)))
    return found


def _date_known(date: tuple[int | None, int | None], known: set[tuple[int | None, int | None]]) -> bool:
    day, month = date
    if month is None:
        return any(d == day for d, _ in known)
    return (day, month) in known or (month, day) in known or (day, None) in known


def _offer_approves(claim: Claim, sentence_folded: str, policy: PolicySet) -> str | None:
    for offer in policy.guardrails.claims.offers:
        pattern = phrase_pattern(w for ws in offer.keywords.values() for w in ws)
        if pattern is None or not pattern.search(sentence_folded):
            continue
        if claim.percent is None or offer.percent is None or claim.percent == offer.percent:
            return offer.name
    return None


def check_claims(
    text: str,
    policy: PolicySet,
    *,
    context_facts: Sequence[str] = (),
    inbound: str | None = None,
    product_hint: str | None = None,
) -> Verdict:
    """Block promises the playbook does not approve; forbidden phrases always block."""
    text = normalize(text)
    folded = fold(text)
    spans = sentences(text)
    settings = policy.guardrails.claims
    approved = _approved_items([*policy.approved_texts(), *context_facts])
    known_dates = {d for item in approved for _, _, d in _dates(item.folded)}
    inbound_dates = {d for _, _, d in _dates(fold(normalize(inbound)))} if inbound else set()
    forbidden: list[str] = []
    blocks: list[str] = []
    reviews: list[str] = []
    for language, phrases in settings.forbidden.items():
        pattern = phrase_pattern(phrases)
        for match in pattern.finditer(folded) if pattern else ():
            forbidden.append(f"forbidden phrase ({language}): '{text[match.start() : match.end()]}'")
    for claim in find_claims(text):
        sentence = enclosing(spans, claim.start) or Span(0, len(text))
        said = text[claim.start : claim.end]
        if claim.kind == "date":
            date = next(d for s, _, d in _dates(folded) if s == claim.start)
            if _date_known(date, known_dates):
                continue
            if _date_known(date, inbound_dates):
                reviews.append(
                    f"date '{said}' repeats the contact's message but is not a known fact; a person confirms"
                )
            else:
                blocks.append(f"date '{said}' is not in the approved facts")
            continue
        if _covered(claim, folded, sentence, approved):
            continue
        sentence_folded = folded[sentence.start : sentence.end]
        if claim.kind == "discount":
            offer = _offer_approves(claim, sentence_folded, policy)
            if offer is not None:
                continue
            offered = ", ".join(f"{o.name} {o.percent}%" if o.percent else o.name for o in settings.offers) or "none"
            blocks.append(f"discount '{said}' is not an approved offer (approved: {offered})")
        elif claim.kind == "statistic":
            blocks.append(f"figure '{said}' is not in the approved facts")
        else:
            blocks.append(f"{claim.kind} claim '{said}' is not in the approved facts")
    for amount in find_amounts(text):
        # "Free" with no free product to attach to is an invented offer ("¡Gratis!", "free for you").
        if amount.free and not products_in_scope(text, amount.start, policy.prices, product_hint, draft_wide=True):
            sentence = enclosing(spans, amount.start) or Span(0, len(text))
            claim = Claim("free", amount.start, amount.end, fold(amount.raw))
            if not _covered(claim, folded, sentence, approved):
                blocks.append(f"'{amount.raw}' offers something free that is not a free product on the price list")
    if forbidden or (blocks and settings.on_unapproved == "block"):
        return Verdict.block(CHECK, "; ".join(forbidden + blocks + reviews))
    if blocks or reviews:
        return Verdict.review(CHECK, "; ".join(blocks + reviews))
    return Verdict.passed(CHECK, "no unapproved promises")
