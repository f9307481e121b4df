"""Prices: every amount a draft states must be on the price list for that product, currency and place."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Literal, get_args

from nightcrew.guardrails.numwords import in_words, is_number_word, read_number
from nightcrew.guardrails.policy import PriceList, PricePeriod, Product
from nightcrew.guardrails.text import Span, clauses, enclosing, fold, negated, normalize, sentences, word_spans
from nightcrew.guardrails.verdict import Verdict

CHECK = "prices"

# The currency a contact's country writes as plain "$" or "pesos", and prices in by default.
LOCAL_CURRENCY: dict[str, str] = {
    "MX": "MXN", "CO": "COP", "AR": "ARS", "CL": "CLP", "UY": "UYU", "DO": "DOP", "CU": "CUP",
    "BR": "BRL", "PE": "PEN", "BO": "BOB", "PY": "PYG", "VE": "VES", "GT": "GTQ", "HN": "HNL",
    "NI": "NIO", "CR": "CRC", "US": "USD", "EC": "USD", "SV": "USD", "PA": "USD", "PR": "USD",
    "CA": "CAD", "ES": "EUR", "PT": "EUR", "GB": "GBP",
}  # fmt: skip
DOLLAR_SIGN = frozenset({"USD", "MXN", "COP", "ARS", "CLP", "UYU", "DOP", "CUP", "CAD"})
PESO = frozenset({"MXN", "COP", "ARS", "CLP", "UYU", "DOP", "CUP"})
KNOWN_CURRENCIES = frozenset(LOCAL_CURRENCY.values()) | DOLLAR_SIGN

_LEFT_MARKERS: dict[str, frozenset[str]] = {
    "R$": frozenset({"BRL"}), "US$": frozenset({"USD"}), "U$S": frozenset({"USD"}), "U$D": frozenset({"USD"}),
    "USD": frozenset({"USD"}), "USD$": frozenset({"USD"}), "MXN": frozenset({"MXN"}), "MXN$": frozenset({"MXN"}),
    "MX$": frozenset({"MXN"}), "COL$": frozenset({"COP"}), "COP": frozenset({"COP"}), "COP$": frozenset({"COP"}),
    "AR$": frozenset({"ARS"}), "ARS": frozenset({"ARS"}), "ARS$": frozenset({"ARS"}), "CLP": frozenset({"CLP"}),
    "CLP$": frozenset({"CLP"}), "UYU": frozenset({"UYU"}), "UYU$": frozenset({"UYU"}), "S/": frozenset({"PEN"}),
    "S/.": frozenset({"PEN"}), "PEN": frozenset({"PEN"}), "BRL": frozenset({"BRL"}), "EUR": frozenset({"EUR"}),
    "€": frozenset({"EUR"}), "CAD": frozenset({"CAD"}), "CAD$": frozenset({"CAD"}), "£": frozenset({"GBP"}),
    "$": DOLLAR_SIGN,
}  # fmt: skip
_LEFT = re.compile(
    r"(?<![A-Za-z])(?P<m>R\s?\$|US\s?\$|U\$[SD]|(?:USD|MXN|COP|ARS|CLP|UYU|CAD)\s?\$?|MX\$|COL\$|AR\$|"
    r"S/\.?|PEN|BRL|EUR|€|£|\$)\s*$",
    re.IGNORECASE,
)
# Currency words after a number, on folded text; first match wins, so specific before generic.
_RIGHT_WORDS: list[tuple[str, frozenset[str]]] = [
    (r"pesos?\s+mexicanos?|mexican\s+pesos?|mxn|m\.\s?n\.|mn", frozenset({"MXN"})),
    (r"pesos?\s+colombianos?|colombian\s+pesos?|cop", frozenset({"COP"})),
    (r"pesos?\s+argentinos?|argentin(?:e|ian)\s+pesos?|ars", frozenset({"ARS"})),
    (r"pesos?\s+chilenos?|chilean\s+pesos?|clp", frozenset({"CLP"})),
    (r"pesos?\s+uruguayos?|uyu", frozenset({"UYU"})),
    (r"pesos?", PESO),
    (r"dolar(?:es)?\s+canadienses?|canadian\s+dollars?|cad", frozenset({"CAD"})),
    (
        r"dolar(?:es)?(?:\s+(?:americanos?|estadounidenses?|usd))?|(?:us\s+)?dollars?|bucks?|usd|dlls?|dls|us\$|u\$s",
        frozenset({"USD"}),
    ),
    (r"reais|reales(?:\s+brasilenos)?|brl|r\$", frozenset({"BRL"})),
    (r"soles|pen|s/\.?", frozenset({"PEN"})),
    (r"euros?|eur|€", frozenset({"EUR"})),
    (r"bolivianos|bob", frozenset({"BOB"})),
    (r"quetzales|gtq", frozenset({"GTQ"})),
    (r"colones|crc", frozenset({"CRC"})),
    (r"\$", DOLLAR_SIGN),
]
_RIGHT = [(re.compile(rf"\s*(?:de\s+|of\s+)?(?:{pattern})(?![a-z])"), cur) for pattern, cur in _RIGHT_WORDS]
# "1 real" and "1 sol" are currencies; "3 real teachers" and "sol" (sun) are not.
_RIGHT_SINGULAR = [
    (re.compile(r"\s*(?:real)(?![a-z])"), frozenset({"BRL"})),
    (re.compile(r"\s*sol(?![a-z])"), frozenset({"PEN"})),
]
_MULTIPLIER = re.compile(r"\s?(?P<m>k|mil|millones|millon|milhoes|milhao|millions?|thousand)(?![a-z])")
_PERIOD = re.compile(
    r"\s*,?\s*(?:(?:/|al|por|cada|x|ao|a|per|each|every)\s*)?"
    r"(?P<p>mes|month|mensual(?:es|mente)?|mensa(?:l|is|lmente)|monthly|ano|year|anual(?:es)?|annual(?:ly)?|yearly|"
    r"semana|week|semanal(?:es)?|weekly|clase|aula|class|lesson|sesion|session|unica\s+vez|pago\s+unico|"
    r"one[- ]time|once)(?![a-z])"
)
_PERIOD_OF = {
    "mes": "month", "month": "month", "monthly": "month", "ano": "year", "year": "year", "yearly": "year",
    "semana": "week", "week": "week", "weekly": "week", "clase": "class", "aula": "class", "class": "class",
    "lesson": "class", "sesion": "class", "session": "class", "once": "once",
}  # fmt: skip
_DIGITS = re.compile(r"(?<!\w)(?<!\d[.,/:'’])(?:\d{1,3}(?: \d{3})+(?![\d.,]\d|\d)|\d+(?:[.,'’]\d+)*)(?!\d|[/:.,]\d)")
_NOT_MONEY_AFTER = re.compile(
    r"\s*(?:%|por\s*ciento|por\s*cento|percent|pct|am\b|pm\b|a\.m\.|p\.m\.|hs?\b|hrs?\b|x\s?\d|"
    r"(?:minutos?|minutes?|mins?|horas?|hours?|dias?|days?|semanas?|weeks?|meses|months?|anos|years?|"
    r"ninos?|ninas?|criancas?|children|kids|alumnos?|alunos?|students?|clases|aulas|classes|lessons?|"
    r"sesiones|sessions?|veces|vezes|times|personas?|pessoas?|people|grupos?|groups?|niveles|levels?|"
    r"modulos?|modules?|cupos?|vagas?|spots?|lugares|places|profesores|professores|teachers)(?![a-z]))"
)
_PRICE_CUES = frozenset(
    [
        "cuesta", "cuestan", "costo", "coste", "costaria", "costara", "precio", "precios", "vale", "valen", "valor",
        "pagas", "paga", "pagan", "pagar", "pago", "pagaria", "pagarias", "mensualidad", "mensualidades", "cuota",
        "cuotas", "tarifa", "inversion", "custa", "custam", "custo", "preco", "precos", "mensalidade", "mensalidades",
        "investimento", "taxa", "cost", "costs", "price", "prices", "priced", "fee", "fees", "pay", "paying", "tuition",
        "cobramos", "cobra", "cobran", "cobrar", "sale", "salen", "queda", "quedaria", "fica", "ficaria", "sai"
    ]
)  # fmt: skip
_FREE = re.compile(
    r"(?<![\w-])(?P<f>gratis|gratuit[oa]s?|gratuitamente|de\s+graca|sin\s+costo(?:\s+alguno)?|sin\s+cargo|"
    r"sem\s+custos?|free\s+of\s+charge|at\s+no\s+(?:cost|charge)|no\s+cost|for\s+free|complimentary|free)(?![\w-])"
)
_FREE_NOT_PRICE_AFTER = re.compile(
    r"\s+(?:to|time|on|at|from|up|now|today|tomorrow|this|next|slot|slots|hours?|spot|of(?!\s+charge))\b|\s*\?"
)
_FREE_NOT_PRICE_BEFORE = frozenset(
    ["you", "youre", "you're", "feel", "we", "i", "im", "i'm", "they", "he", "she", "be", "get", "set", "break", "are"]
)
_SYMBOL = {"BRL": "R$", "PEN": "S/", "EUR": "€", "GBP": "£"}
_CURRENCY_WORDS: dict[str, dict[str, str]] = {
    "MXN": {"es": "pesos mexicanos", "pt": "pesos mexicanos", "en": "Mexican pesos"},
    "COP": {"es": "pesos colombianos", "pt": "pesos colombianos", "en": "Colombian pesos"},
    "ARS": {"es": "pesos argentinos", "pt": "pesos argentinos", "en": "Argentine pesos"},
    "CLP": {"es": "pesos chilenos", "pt": "pesos chilenos", "en": "Chilean pesos"},
    "USD": {"es": "dólares", "pt": "dólares", "en": "dollars"},
    "BRL": {"es": "reales", "pt": "reais", "en": "reais"},
    "PEN": {"es": "soles", "pt": "soles", "en": "soles"},
    "EUR": {"es": "euros", "pt": "euros", "en": "euros"},
}
_SIMPLE_WORDS: dict[str, dict[str, str]] = {
    "MXN": {"es": "pesos"}, "COP": {"es": "pesos"}, "ARS": {"es": "pesos"}, "CLP": {"es": "pesos"},
}  # fmt: skip


# Letters that pass for zeros (Latin, Cyrillic, Greek O): "$1,2ОО" must not slip past as no amount at all.
_LOOKALIKE = re.compile(r"\d[\d.,]*[OoОоΟο][\dOoОоΟο.,]*")
_O_LIKE = frozenset("OoОоΟο")


def lookalike_numbers(text: str) -> list[str]:
    """Numbers written with letters that look like digits ('1,2ОО'); an ordinal like '1o' is not one."""
    text = normalize(text)
    found = []
    for match in _LOOKALIKE.finditer(text):
        token = match.group().rstrip(".,")
        if match.end() < len(text) and text[match.end()].isalpha():
            continue
        if sum(ch in _O_LIKE for ch in token) == 1 and token[-1] in _O_LIKE and token[:-1].isdigit():
            continue
        found.append(token)
    return found


@dataclass(frozen=True)
class Amount:
    """One amount of money a draft states, as written, with what its currency marker can mean."""

    value: Decimal
    start: int
    end: int
    raw: str
    marker: str | None
    # Currencies the marker can mean; empty when the amount has no marker (read from a price cue).
    candidates: frozenset[str] = frozenset()
    period: PricePeriod | None = None
    free: bool = False


def parse_numeral(text: str) -> Decimal | None:
    """Read a number written with es/pt/en separators: '1,200', '1.200', '1.200,50', '1,200.50', "1'200.000"."""
    if not re.fullmatch(r"\d+(?:[.,'’ ]\d+)*", text):
        return None
    marks = [(i, ch) for i, ch in enumerate(text) if ch in ".,"]
    decimal_at: int | None = None
    if len({ch for _, ch in marks}) == 2:
        # Both marks: the last one is the decimal separator ("1.200,50", "1,200.50").
        decimal_at, mark = marks[-1]
        if any(ch == mark for _, ch in marks[:-1]):
            return None
    elif len(marks) == 1:
        tail = text[marks[0][0] + 1 :]
        # One mark: three digits after it group thousands ("1.200"), one or two are decimals ("99,90").
        if len(tail) in (1, 2):
            decimal_at = marks[0][0]
        elif len(tail) != 3:
            return None
    whole = text if decimal_at is None else text[:decimal_at]
    fraction = "" if decimal_at is None else text[decimal_at + 1 :]
    if fraction and (not fraction.isdigit() or len(fraction) > 2):
        return None
    groups = re.split(r"[.,'’ ]", whole)
    if len(groups) > 1 and (not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])):
        return None
    try:
        return Decimal("".join(groups) + (f".{fraction}" if fraction else ""))
    except InvalidOperation:
        return None


def _right_currency(folded: str, pos: int, value: Decimal) -> tuple[frozenset[str], str, int] | None:
    patterns = list(_RIGHT)
    if value == 1:
        patterns = _RIGHT_SINGULAR + patterns
    for pattern, currencies in patterns:
        match = pattern.match(folded, pos)
        if match:
            return currencies, match.group().strip(), match.end()
    return None


def _left_currency(text: str, start: int) -> tuple[frozenset[str], str, int] | None:
    lo = max(0, start - 8)
    match = _LEFT.search(text[lo:start])
    if not match:
        return None
    currencies = _LEFT_MARKERS.get(re.sub(r"\s", "", match.group("m")).upper())
    if currencies is None:
        return None
    return currencies, match.group("m").strip(), lo + match.start()


def _period(folded: str, pos: int) -> tuple[PricePeriod | None, int]:
    match = _PERIOD.match(folded, pos)
    if not match:
        return None, pos
    word = re.sub(r"\s+", " ", match.group("p"))
    if word.startswith(("mensu", "mensa")):
        return "month", match.end()
    if word.startswith(("anual", "annual")):
        return "year", match.end()
    if word.startswith("semanal"):
        return "week", match.end()
    if word in ("unica vez", "pago unico", "one-time", "one time"):
        return "once", match.end()
    period: PricePeriod | None = _PERIOD_OF.get(word)  # type: ignore[assignment]
    return period, match.end()


def _price_cue_before(folded: str, start: int) -> bool:
    before = [w for w, _, _ in word_spans(folded[max(0, start - 48) : start])][-5:]
    return any(w in _PRICE_CUES for w in before)


def _free_mentions(text: str, folded: str) -> list[Amount]:
    found: list[Amount] = []
    for match in _FREE.finditer(folded):
        word = match.group("f")
        negatable = word in ("gratis", "free") or word.startswith(("gratuit", "de"))
        if negatable and negated(folded, match.start()):
            continue
        if word == "free":
            previous = [w for w, _, _ in word_spans(folded[max(0, match.start() - 24) : match.start()])][-1:]
            if _FREE_NOT_PRICE_AFTER.match(folded, match.end()) or (previous and previous[0] in _FREE_NOT_PRICE_BEFORE):
                continue
        found.append(
            Amount(Decimal(0), match.start(), match.end(), text[match.start() : match.end()], "free", free=True)
        )
    return found


def find_amounts(text: str) -> list[Amount]:
    """Every amount of money in a draft: digits or words, with or without a currency, and 'free' mentions."""
    text = normalize(text)
    folded = fold(text)
    amounts: list[Amount] = []
    taken: list[Span] = []
    for match in _DIGITS.finditer(text):
        value = parse_numeral(match.group())
        if value is None:
            continue
        end = match.end()
        if end < len(text) and text[end].isalpha():
            attached = _MULTIPLIER.match(folded, end) or _right_currency(folded, end, value)
            if not attached:
                continue
        if _NOT_MONEY_AFTER.match(folded, end):
            continue
        amount = _complete(text, folded, match.start(), end, value, tokens=1)
        if amount is not None:
            amounts.append(amount)
            taken.append(Span(amount.start, amount.end))
    tokens = word_spans(folded)
    i = 0
    while i < len(tokens):
        word, start, _ = tokens[i]
        if not is_number_word(word) or any(s.contains(start) for s in taken):
            i += 1
            continue
        number = read_number([w for w, _, _ in tokens[i : i + 12]])
        if number is None or number.only_article:
            # "un dólar", "one peso", "a buck": an article is a number only right before a currency.
            single = _single_unit(text, folded, word, start, tokens[i][2])
            if single is not None:
                amounts.append(single)
                taken.append(Span(single.start, single.end))
            i += 1
            continue
        end = tokens[i + number.tokens - 1][2]
        amount = _complete(text, folded, start, end, Decimal(number.value), tokens=number.tokens)
        if amount is not None and not _NOT_MONEY_AFTER.match(folded, end):
            amounts.append(amount)
            taken.append(Span(amount.start, amount.end))
        i += number.tokens
    amounts += [a for a in _free_mentions(text, folded) if not any(s.contains(a.start) for s in taken)]
    return sorted(amounts, key=lambda a: a.start)


_ONE = frozenset({"un", "una", "uno", "um", "uma", "one"})
# After the English article only English currency words count: "a real teacher" is not one real.
_A_CURRENCY = re.compile(r"\s+(?:dollar|buck|peso|euro)(?![a-z])")


def _single_unit(text: str, folded: str, word: str, start: int, end: int) -> Amount | None:
    if word in ("a", "an"):
        if not _A_CURRENCY.match(folded, end):
            return None
    elif word not in _ONE:
        return None
    amount = _complete(text, folded, start, end, Decimal(1), tokens=1)
    return amount if amount is not None and amount.marker is not None else None


def _complete(text: str, folded: str, start: int, end: int, value: Decimal, *, tokens: int) -> Amount | None:
    """Attach multiplier, currency and period around a number; None when it is not an amount of money."""
    multiplier = _MULTIPLIER.match(folded, end)
    if multiplier:
        value *= 1000 if multiplier.group("m") in ("k", "mil", "thousand") else 1_000_000
        end = multiplier.end()
    left = _left_currency(text, start)
    right = _right_currency(folded, end, value)
    candidates: frozenset[str] = frozenset()
    marker: str | None = None
    begin = start
    if left is not None and right is not None:
        # "$ 1.200 pesos" is pesos; contradicting marks ("US$ 99 pesos") stay ambiguous.
        candidates = (left[0] & right[0]) or (left[0] | right[0])
        marker, begin, end = f"{left[1]} {right[1]}", left[2], right[2]
    elif left is not None:
        candidates, marker, begin = left
    elif right is not None:
        candidates, marker, end = right
    period, after = _period(folded, end)
    if marker is None:
        # Without a currency, a number is money only where the sentence talks about paying; a single
        # number word ("once", "cien") needs a currency, it is too often an ordinary word.
        if not text[start].isdigit() and tokens == 1:
            return None
        if not (_price_cue_before(folded, start) or period is not None):
            return None
    if period is not None:
        end = after
    if value == value.to_integral_value():
        value = Decimal(int(value))
    return Amount(value, begin, end, text[begin:end], marker, candidates, period)


@dataclass(frozen=True)
class CurrencyReading:
    """What currency an amount is in for this contact, or why that cannot be told."""

    currency: str | None
    status: Literal["ok", "ambiguous", "foreign", "unknown_place"]
    why: str = ""
    options: frozenset[str] = field(default_factory=frozenset)


def resolve_currency(amount: Amount, country: str | None, prices: PriceList) -> CurrencyReading:
    """The amount's currency, reading '$' and 'pesos' the way the contact's country does."""
    listed = frozenset(prices.currencies_for(None))
    candidates: frozenset[str] = amount.candidates or listed
    if not candidates & listed:
        return CurrencyReading(None, "foreign", f"no price is listed in {'/'.join(sorted(candidates))}")
    if country is None:
        return CurrencyReading(None, "unknown_place", "the contact's country is unknown", candidates & listed)
    quoted = frozenset(prices.currencies_for(country))
    local = LOCAL_CURRENCY.get(country)
    marker = f"'{amount.marker}'" if amount.marker else "an amount without currency"
    if not amount.candidates:
        # No currency written: read it in the currency this contact is quoted in, when there is one.
        candidates = quoted or candidates
        if len(candidates) > 1 and local is not None and local in candidates:
            candidates = frozenset({local})
    currency: str
    why = ""
    if len(candidates) == 1:
        (currency,) = candidates
    elif local is not None and local in candidates:
        currency = local
        why = f"{marker} means {local} in {country}"
    else:
        options = candidates & quoted
        if len(options) == 1:
            (currency,) = options
            why = f"{marker} read as {currency}, the currency quoted in {country}"
        elif not options:
            meanings = sorted(candidates & KNOWN_CURRENCIES)
            shown = "/".join(meanings) if len(meanings) <= 4 else "a dollar or peso sign"
            return CurrencyReading(
                None,
                "foreign",
                f"{marker} ({shown}) is not a currency quoted in {country} ({'/'.join(sorted(quoted))})",
            )
        else:
            return CurrencyReading(
                None, "ambiguous", f"{marker} could be {' or '.join(sorted(options))} in {country}", options
            )
    if currency not in quoted:
        listed_here = "/".join(sorted(quoted)) or "nothing"
        reason = f"{why + '; ' if why else ''}{country} is quoted in {listed_here}, not {currency}"
        return CurrencyReading(None, "foreign", reason)
    return CurrencyReading(currency, "ok", why)


def product_mentions(text: str, prices: PriceList) -> list[tuple[Product, int]]:
    """Each product named in the text, with the offset where it is named."""
    folded = fold(normalize(text))
    found: list[tuple[Product, int]] = []
    for product in prices.products:
        for term in product.terms():
            term_folded = re.escape(fold(normalize(term))).replace(r"\ ", r"\s+")
            for match in re.finditer(rf"(?<![^\W_]){term_folded}(?![^\W_])", folded):
                found.append((product, match.start()))
    return found


def products_in_scope(
    text: str, position: int, prices: PriceList, hint: str | None, *, draft_wide: bool = False
) -> list[Product]:
    """The products an amount at ``position`` can refer to: named in its clause, else its sentence, else the hint."""
    text = normalize(text)
    mentions = product_mentions(text, prices)
    sentence = enclosing(sentences(text), position) or Span(0, len(text))
    clause = enclosing(clauses(text, sentence), position) or sentence
    for scope in (clause, sentence):
        named = _unique(p for p, at in mentions if scope.contains(at))
        if named:
            return named
    if draft_wide and mentions:
        return _unique(p for p, _ in mentions)
    hinted = prices.product(hint) if hint else None
    return [hinted] if hinted else []


def _unique(products: Iterable[Product]) -> list[Product]:
    out: list[Product] = []
    for product in products:
        if product not in out:
            out.append(product)
    return out


def money(value: Decimal, currency: str | None) -> str:
    """'MXN 1,200' or '0' for the reasons an operator reads."""
    number = f"{value:,.2f}".removesuffix(".00")
    return f"{currency} {number}" if currency else number


def _listed(products: Iterable[Product], country: str | None) -> str:
    parts = []
    for product in products:
        for price in product.prices_for(country):
            per = f"/{product.period}" if product.period and price.amount else ""
            parts.append(f"{product.name} {money(price.amount, price.currency) if price.amount else 'free'}{per}")
    return ", ".join(parts) or "nothing"


def check_prices(text: str, prices: PriceList, country: str | None, *, product_hint: str | None = None) -> Verdict:
    """Pass when every amount in the draft is a listed price for its product, currency and the contact's country."""
    amounts = find_amounts(text)
    disguised = lookalike_numbers(text)
    if disguised:
        shown = ", ".join(f"'{t}'" for t in disguised)
        return Verdict.review(CHECK, f"number(s) written with letters that look like digits: {shown}")
    if not amounts:
        return Verdict.passed(CHECK, "no amounts of money in the draft")
    blocks: list[str] = []
    reviews: list[str] = []
    matched: list[str] = []
    escalate = {"block": blocks, "review": reviews}
    for amount in amounts:
        if amount.free or amount.value == 0:
            scope = products_in_scope(text, amount.start, prices, product_hint, draft_wide=True)
            if not scope:
                continue  # "free" with no product is an offer; the claims check judges it
            if any(p.is_free(country) for p in scope):
                matched.append(f"'{amount.raw}' ({', '.join(p.name for p in scope if p.is_free(country))} is free)")
            else:
                blocks.append(
                    f"'{amount.raw}' calls {'/'.join(p.name for p in scope)} free; listed: {_listed(scope, country)}"
                )
            continue
        if not prices.products:
            escalate[prices.on_unlisted].append(f"'{amount.raw}' states a price but the playbook lists none")
            continue
        reading = resolve_currency(amount, country, prices)
        if reading.status == "unknown_place":
            reviews.append(f"'{amount.raw}': {reading.why}, so the price list that applies cannot be told")
            continue
        if reading.status == "ambiguous":
            escalate[prices.on_ambiguous].append(f"'{amount.raw}': {reading.why}")
            continue
        if reading.status == "foreign" or reading.currency is None:
            escalate[prices.on_unlisted].append(f"'{amount.raw}': {reading.why}")
            continue
        scope = products_in_scope(text, amount.start, prices, product_hint)
        hits = [
            (product, price)
            for product in prices.products
            for price in product.prices_for(country)
            if price.currency == reading.currency and price.amount == amount.value
        ]
        said = money(amount.value, reading.currency)
        in_scope = [(p, price) for p, price in hits if not scope or p in scope]
        if in_scope:
            product = in_scope[0][0]
            if amount.period and product.period and amount.period != product.period:
                blocks.append(
                    f"'{amount.raw}' ({said}) is per {amount.period}, but {product.name} is listed per {product.period}"
                )
            else:
                matched.append(f"'{amount.raw}' = {product.name} {said} in {country}")
        elif hits:
            names = "/".join(p.name for p, _ in hits)
            reviews.append(
                f"'{amount.raw}' ({said}) is the {names} price, "
                f"but the sentence is about {'/'.join(p.name for p in scope)}"
            )
        else:
            about = "/".join(p.name for p in scope) if scope else "any product"
            escalate[prices.on_unlisted].append(
                f"'{amount.raw}' ({said} in {country}) is not a listed price for {about}; listed: "
                f"{_listed(scope or prices.products, country)}"
            )
    evidence = {"amounts": [a.raw for a in amounts], "country": country}
    if blocks:
        return Verdict.block(CHECK, "; ".join(blocks + reviews), **evidence)
    if reviews:
        return Verdict.review(CHECK, "; ".join(reviews), **evidence)
    return Verdict.passed(CHECK, "; ".join(matched) if matched else "no priced amounts")


PriceStyle = Literal["symbol", "symbol_local", "code", "code_after", "word", "words", "thousands_word"]
PRICE_STYLES: tuple[PriceStyle, ...] = get_args(PriceStyle)


def _grouped(value: Decimal, thousands: str, decimal: str) -> str:
    whole = int(value)
    cents = (value - whole) * 100
    body = f"{whole:,}".replace(",", thousands)
    return body + (f"{decimal}{int(cents):02d}" if cents else "")


def format_price(value: Decimal, currency: str, style: PriceStyle, language: str = "es") -> str | None:
    """Write an amount as a message would ('$1,200', 'R$ 1.200,00', 'mil doscientos pesos'); None if the style can't."""
    whole = value == value.to_integral_value()
    symbol = _SYMBOL.get(currency, "$" if currency in DOLLAR_SIGN else None)
    word = _SIMPLE_WORDS.get(currency, {}).get(language) or _CURRENCY_WORDS.get(currency, {}).get(language)
    if style == "symbol":
        return f"{symbol}{_grouped(value, ',', '.')}" if symbol else None
    if style == "symbol_local":
        return f"{symbol} {_grouped(value, '.', ',')}" if symbol else None
    if style == "code":
        return f"{currency} {_grouped(value, ',', '.')}"
    if style == "code_after":
        return f"{_grouped(value, '.', ',')} {currency}"
    if style == "word":
        return (
            f"{_grouped(value, '.' if language != 'en' else ',', ',' if language != 'en' else '.')} {word}"
            if word
            else None
        )
    if style == "words":
        return f"{in_words(int(value), language)} {word}" if word and whole and value < 1_000_000_000 else None
    if value >= 1000 and value % 100 == 0 and word and language != "en":
        thousands = value / 1000
        whole_thousands = thousands == thousands.to_integral_value()
        number = str(int(thousands)) if whole_thousands else f"{thousands:f}".rstrip("0").replace(".", ",")
        return f"{number} mil {word}"
    return None


def listed_prices(prices: PriceList, country: str | None, currency: str) -> set[Decimal]:
    """Every amount quoted in ``currency`` to ``country`` (any product), zero included when a product is free."""
    found = {p.amount for product in prices.products for p in product.prices_for(country) if p.currency == currency}
    if any(product.is_free(country) for product in prices.products):
        found.add(Decimal(0))
    return found
