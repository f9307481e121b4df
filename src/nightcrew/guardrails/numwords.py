"""Numbers written in words, in Spanish, Portuguese and English: read them and write them."""

from __future__ import annotations

from dataclasses import dataclass

# Folded (lower case, no accents) word -> value, for the words that add to the running group.
_SIMPLE: dict[str, int] = {
    # Spanish
    "cero": 0, "un": 1, "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7,
    "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12, "trece": 13, "catorce": 14, "quince": 15,
    "dieciseis": 16, "diecisiete": 17, "dieciocho": 18, "diecinueve": 19, "veinte": 20, "veintiun": 21,
    "veintiuno": 21, "veintiuna": 21, "veintidos": 22, "veintitres": 23, "veinticuatro": 24, "veinticinco": 25,
    "veintiseis": 26, "veintisiete": 27, "veintiocho": 28, "veintinueve": 29, "treinta": 30, "cuarenta": 40,
    "cincuenta": 50, "sesenta": 60, "setenta": 70, "ochenta": 80, "noventa": 90, "cien": 100, "ciento": 100,
    "doscientos": 200, "doscientas": 200, "trescientos": 300, "trescientas": 300, "cuatrocientos": 400,
    "cuatrocientas": 400, "quinientos": 500, "quinientas": 500, "seiscientos": 600, "seiscientas": 600,
    "setecientos": 700, "setecientas": 700, "ochocientos": 800, "ochocientas": 800, "novecientos": 900,
    "novecientas": 900,
    # Portuguese (words spelt like Spanish ones are above)
    "um": 1, "dois": 2, "duas": 2, "quatro": 4, "sete": 7, "oito": 8, "nove": 9, "dez": 10, "onze": 11, "doze": 12,
    "treze": 13, "catorze": 14, "quatorze": 14, "quinze": 15, "dezesseis": 16, "dezasseis": 16, "dezessete": 17,
    "dezassete": 17, "dezoito": 18, "dezenove": 19, "dezanove": 19, "vinte": 20, "trinta": 30, "quarenta": 40,
    "cinquenta": 50, "sessenta": 60, "oitenta": 80, "cem": 100, "cento": 100, "duzentos": 200, "duzentas": 200,
    "trezentos": 300, "trezentas": 300, "quatrocentos": 400, "quatrocentas": 400, "quinhentos": 500,
    "quinhentas": 500, "seiscentos": 600, "seiscentas": 600, "setecentos": 700, "setecentas": 700,
    "oitocentos": 800, "oitocentas": 800, "novecentos": 900, "novecentas": 900,
    # English
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_HUNDRED = {"hundred", "hundreds"}
_THOUSAND = {"mil", "thousand", "thousands"}
_MILLION = {"millon", "millones", "milhao", "milhoes", "million", "millions"}
_CONNECTORS = {"y", "e", "and"}
# Articles that are numbers only in front of a multiplier ("un millón", "a thousand").
_ARTICLES = {"un", "una", "uno", "um", "uma", "a", "one"}
MULTIPLIERS = _HUNDRED | _THOUSAND | _MILLION


def is_number_word(word: str) -> bool:
    """Whether a folded word can be part of a number written in words."""
    return word in _SIMPLE or word in MULTIPLIERS or word == "a"


@dataclass(frozen=True)
class WordNumber:
    """A number written in words: its value, how many tokens it took and whether it is only an article."""

    value: int
    tokens: int
    only_article: bool


def read_number(tokens: list[str]) -> WordNumber | None:
    """Read the longest number at the start of folded word tokens; None when there is none."""
    total = 0
    group = 0
    used = 0
    seen_number = False
    article_only = True
    i = 0
    while i < len(tokens):
        word = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if word in _CONNECTORS or (word == "-" and seen_number):
            # A connector only belongs to the number when a number word follows it.
            if seen_number and (nxt in _SIMPLE or nxt in MULTIPLIERS):
                i += 1
                continue
            break
        if word == "a":
            if nxt not in MULTIPLIERS:
                break
            group = 1
        elif word in _SIMPLE:
            value = _SIMPLE[word]
            # "twenty two" adds up, "two two" does not: a unit cannot follow a unit.
            if seen_number and group % 10 and value < 10 and group < 100 and tokens[i - 1] not in MULTIPLIERS:
                break
            group += value
        elif word in _HUNDRED:
            group = (group or 1) * 100
        elif word in _THOUSAND:
            total += (group or 1) * 1000
            group = 0
        elif word in _MILLION:
            total = ((total + group) or 1) * 1_000_000
            group = 0
        else:
            break
        if word not in _ARTICLES:
            article_only = False
        seen_number = True
        i += 1
        used = i
    if not seen_number:
        return None
    return WordNumber(total + group, used, article_only)


_ES_UNITS = ["", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez", "once",
             "doce", "trece", "catorce", "quince", "dieciséis", "diecisiete", "dieciocho", "diecinueve", "veinte",
             "veintiuno", "veintidós", "veintitrés", "veinticuatro", "veinticinco", "veintiséis", "veintisiete",
             "veintiocho", "veintinueve"]  # fmt: skip
_ES_TENS = ["", "", "veinte", "treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta", "noventa"]
_ES_HUNDREDS = ["", "ciento", "doscientos", "trescientos", "cuatrocientos", "quinientos", "seiscientos",
                "setecientos", "ochocientos", "novecientos"]  # fmt: skip
_PT_UNITS = ["", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove", "dez", "onze", "doze",
             "treze", "catorze", "quinze", "dezesseis", "dezessete", "dezoito", "dezenove"]  # fmt: skip
_PT_TENS = ["", "", "vinte", "trinta", "quarenta", "cinquenta", "sessenta", "setenta", "oitenta", "noventa"]
_PT_HUNDREDS = ["", "cento", "duzentos", "trezentos", "quatrocentos", "quinhentos", "seiscentos", "setecentos",
                "oitocentos", "novecentos"]  # fmt: skip
_EN_UNITS = ["", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
             "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]  # fmt: skip
_EN_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _es_below_1000(n: int) -> str:
    if n == 100:
        return "cien"
    hundreds, rest = divmod(n, 100)
    parts = [_ES_HUNDREDS[hundreds]] if hundreds else []
    if rest < 30:
        parts.append(_ES_UNITS[rest])
    else:
        tens, units = divmod(rest, 10)
        parts.append(_ES_TENS[tens] + (f" y {_ES_UNITS[units]}" if units else ""))
    return " ".join(p for p in parts if p)


def _pt_below_1000(n: int) -> str:
    if n == 100:
        return "cem"
    hundreds, rest = divmod(n, 100)
    parts = [_PT_HUNDREDS[hundreds]] if hundreds else []
    if rest:
        if rest < 20:
            parts.append(_PT_UNITS[rest])
        else:
            tens, units = divmod(rest, 10)
            parts.append(_PT_TENS[tens] + (f" e {_PT_UNITS[units]}" if units else ""))
    return " e ".join(parts)


def _en_below_1000(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    parts = [f"{_EN_UNITS[hundreds]} hundred"] if hundreds else []
    if rest:
        if rest < 20:
            parts.append(_EN_UNITS[rest])
        else:
            tens, units = divmod(rest, 10)
            parts.append(_EN_TENS[tens] + (f"-{_EN_UNITS[units]}" if units else ""))
    return " and ".join(parts) if hundreds and rest else " ".join(parts)


def in_words(n: int, language: str) -> str:
    """Write a whole number from 0 to 999,999,999 in words ('mil doscientos', 'duzentos e noventa e nove')."""
    if not 0 <= n < 1_000_000_000:
        raise ValueError(f"{n} is out of range for numbers in words")
    if n == 0:
        return {"es": "cero", "pt": "zero"}.get(language, "zero")
    below = {"es": _es_below_1000, "pt": _pt_below_1000}.get(language, _en_below_1000)
    millions, rest = divmod(n, 1_000_000)
    thousands, units = divmod(rest, 1000)
    parts: list[str] = []
    if millions:
        if language == "es":
            parts.append("un millón" if millions == 1 else f"{below(millions).replace('uno', 'un')} millones")
        elif language == "pt":
            parts.append("um milhão" if millions == 1 else f"{below(millions)} milhões")
        else:
            parts.append(f"{below(millions)} million")
    if thousands:
        if language in ("es", "pt"):
            parts.append("mil" if thousands == 1 else f"{below(thousands).replace('uno', 'un')} mil")
        else:
            parts.append(f"{below(thousands)} thousand")
    if units:
        parts.append(below(units))
    if language == "pt" and len(parts) > 1 and (units < 100 or units % 100 == 0) and units:
        # Portuguese joins the last group with "e" when it is below a hundred or a round hundred.
        return " ".join(parts[:-1]) + " e " + parts[-1]
    return " ".join(parts)
