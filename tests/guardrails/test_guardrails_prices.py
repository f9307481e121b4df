"""Prices: reading amounts in es/pt/en formats and checking them against the price list."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nightcrew.guardrails.numwords import in_words, read_number
from nightcrew.guardrails.policy import PolicySet, PriceList, Product, ProductPrice
from nightcrew.guardrails.prices import (
    DOLLAR_SIGN,
    LOCAL_CURRENCY,
    PESO,
    PRICE_STYLES,
    PriceStyle,
    check_prices,
    find_amounts,
    format_price,
    listed_prices,
    parse_numeral,
)
from nightcrew.guardrails.text import fold, words
from nightcrew.guardrails.verdict import VerdictKind
from nightcrew.playbook import load_playbook

PRICES = PolicySet.from_playbook(load_playbook()).prices
# Countries with no price of their own: they get the "everywhere else" (USD) prices.
ELSEWHERE = ["US", "EC", "AR", "CL", "ES", "PA", "GT"]
SENTENCE = {
    "es": "El {product} cuesta {price}.",
    "pt": "O {product} custa {price}.",
    "en": "The {product} costs {price}.",
}


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("1200", "1200"), ("1,200", "1200"), ("1.200", "1200"), ("1 200", "1200"), ("1.200,00", "1200.00"),
        ("1,200.50", "1200.50"), ("99,90", "99.90"), ("99.9", "99.9"), ("260.000", "260000"),
        ("1.200.000", "1200000"), ("1'200.000", "1200000"), ("12,34,5", None), ("1.2345", None), ("1,200,50", None),
    ],
)  # fmt: skip
def test_numerals_in_es_pt_en_formats(written: str, value: str | None) -> None:
    assert parse_numeral(written) == (Decimal(value) if value else None)


@pytest.mark.parametrize(
    ("text", "value", "marker"),
    [
        ("cuesta $1,200 al mes", "1200", "$"),
        ("son 1.200 pesos", "1200", "pesos"),
        ("custa R$ 1.200,00", "1200", "R$"),
        ("it is USD 99", "99", "USD"),
        ("son 99 dólares", "99", "dolares"),
        ("sai por mil reais", "1000", "reais"),
        ("son mil quinientos pesos", "1500", "pesos"),
        ("cuesta S/ 249", "249", "S/"),
        ("cuesta S/.249", "249", "S/."),
        ("son 260 mil pesos", "260000", "pesos"),
        ("costs twelve hundred dollars", "1200", "dollars"),
        ("costs seventy-nine dollars", "79", "dollars"),
        ("custa duzentos e noventa e nove reais", "299", "reais"),
        ("cuesta 1.5k al mes", "1500", None),
        ("cuesta $1.2 mil", "1200", "$"),
        ("it's $79/month", "79", "$"),
        ("cuesta ＄１,２００", "1200", "$"),
        ("son 1,200 dlls", "1200", "dlls"),
        ("cuesta un dólar", "1", "dolar"),
        ("cuesta 299 reales", "299", "reales"),
        ("it's a buck", "1", "buck"),
    ],
)
def test_amounts_are_found_with_their_currency_marker(text: str, value: str, marker: str | None) -> None:
    amounts = [a for a in find_amounts(text) if not a.free]
    assert [a.value for a in amounts] == [Decimal(value)]
    assert amounts[0].marker == marker


@pytest.mark.parametrize(
    "text",
    [
        "Grupos de 6 niños de 6 a 16 años, clases de 45 minutos.",
        "Te esperamos el 15/03 a las 17:00.",
        "Llámanos al 55 1234 5678.",
        "El 90% de los niños disfruta.",
        "Promo 2x1 en el 2026.",
        "Mil gracias por escribirnos.",
        "Paga una vez y listo: once clases al mes.",
        "Feel free to ask! Are you free on Tuesday?",
        "La clase de prueba no es gratis para grupos.",
    ],
)
def test_numbers_that_are_not_money_are_not_amounts(text: str) -> None:
    assert find_amounts(text) == []


@pytest.mark.parametrize(
    ("text", "country", "kind"),
    [
        ("El curso de inglés cuesta $1,200 al mes.", "MX", VerdictKind.PASS),
        ("El curso de inglés cuesta $1,200 al mes.", "CO", VerdictKind.BLOCK),
        ("El curso de inglés cuesta $260.000 al mes.", "CO", VerdictKind.PASS),
        ("El curso de inglés cuesta $79 al mes.", "EC", VerdictKind.PASS),
        ("El curso de inglés cuesta $79 al mes.", "AR", VerdictKind.BLOCK),
        ("El curso de inglés cuesta US$ 79 al mes.", "AR", VerdictKind.PASS),
        ("El curso de inglés cuesta S/ 249 al mes.", "PE", VerdictKind.PASS),
        ("El curso de inglés cuesta $249 al mes.", "PE", VerdictKind.BLOCK),
        ("El curso de inglés cuesta $1,200 al mes.", None, VerdictKind.REVIEW),
        ("El curso de inglés cuesta $500.", "MX", VerdictKind.REVIEW),
        ("El curso de inglés cuesta $1,200 al año.", "MX", VerdictKind.BLOCK),
        ("La clase de prueba es gratis.", None, VerdictKind.PASS),
        ("El curso de inglés es gratis.", "MX", VerdictKind.BLOCK),
        ("El curso de inglés cuesta $1,2ОО al mes.", "MX", VerdictKind.REVIEW),
    ],
)
def test_dollar_and_peso_are_read_the_way_the_contact_country_reads_them(
    text: str, country: str | None, kind: VerdictKind
) -> None:
    verdict = check_prices(text, PRICES, country)
    assert verdict.kind is kind, verdict.reason
    assert verdict.reason


def test_reason_names_the_amount_the_product_and_the_listed_price() -> None:
    verdict = check_prices("El curso de inglés cuesta $1,500 al mes.", PRICES, "MX")
    assert verdict.kind is VerdictKind.BLOCK
    assert "'$1,500 al mes'" in verdict.reason and "MXN 1,500" in verdict.reason
    assert "english_course MXN 1,200/month" in verdict.reason


def test_an_empty_price_list_escalates_any_amount() -> None:
    verdict = check_prices("The course is USD 79.", PriceList(), "US")
    assert verdict.kind is VerdictKind.BLOCK


@given(st.integers(min_value=0, max_value=999_999_999), st.sampled_from(["es", "pt", "en"]))
def test_numbers_in_words_read_back(n: int, language: str) -> None:
    number = read_number(words(fold(in_words(n, language))))
    assert number is not None
    assert number.value == n


def _country_for(product: Product, locations: list[str], pick: int) -> str:
    if locations:
        return locations[pick % len(locations)]
    taken = {c for p in product.amounts for c in p.locations}
    return [c for c in ELSEWHERE if c not in taken][pick % 5]


def _name(product: Product, language: str) -> str:
    for lang, names in product.keywords.items():
        if lang == language and names:
            return names[0]
    return product.terms()[0]


def _symbol_means(currency: str, country: str) -> bool:
    """Whether '$' written to ``country`` can only mean ``currency`` (R$, S/ and € name their own)."""
    if currency not in DOLLAR_SIGN:
        return True
    local = LOCAL_CURRENCY.get(country)
    return local == currency if local in DOLLAR_SIGN else currency == "USD"


def _read_as_another_local_currency(style: PriceStyle, currency: str, country: str, language: str) -> bool:
    """Whether the contact reads the written form as its own '$' or 'pesos', not as ``currency``."""
    local = LOCAL_CURRENCY.get(country)
    if local is None or local == currency:
        return False
    if style in ("symbol", "symbol_local"):
        return currency in DOLLAR_SIGN and local in DOLLAR_SIGN
    generic_pesos = language == "es" and currency in PESO
    return style in ("word", "words", "thousands_word") and generic_pesos and local in PESO


PAID = [(product, price) for product in PRICES.products for price in product.amounts if price.amount > 0]


@settings(max_examples=300, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    st.sampled_from(PAID),
    st.integers(min_value=0, max_value=4),
    st.sampled_from(PRICE_STYLES),
    st.sampled_from(["es", "pt", "en"]),
)
def test_any_listed_price_in_any_locale_style_passes(
    entry: tuple[Product, ProductPrice], pick: int, style: PriceStyle, language: str
) -> None:
    product, price = entry
    assert price.currency is not None
    country = _country_for(product, price.locations, pick)
    written = format_price(price.amount, price.currency, style, language)
    assume(written is not None)
    assume(style not in ("symbol", "symbol_local") or _symbol_means(price.currency, country))
    draft = SENTENCE[language].format(product=_name(product, language), price=written)
    verdict = check_prices(draft, PRICES, country)
    assert verdict.kind is VerdictKind.PASS, f"{draft!r} to {country}: {verdict.reason}"
    # It passed because the amount was read and matched, not because nothing was found.
    assert [a.value for a in find_amounts(draft)] == [price.amount], draft


CURRENCIES = sorted({p.currency for _, p in PAID if p.currency})


@settings(max_examples=300, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10_000_000), places=2, allow_nan=False),
    st.sampled_from(CURRENCIES),
    st.sampled_from(["MX", "CO", "BR", "PE", "US", "AR", "EC"]),
    st.sampled_from(PRICE_STYLES),
    st.sampled_from(["es", "pt", "en"]),
    st.sampled_from([p for p in PRICES.products if not p.is_free(None)]),
)
def test_an_amount_that_is_not_listed_never_passes(
    amount: Decimal, currency: str, country: str, style: PriceStyle, language: str, product: Product
) -> None:
    assume(amount not in listed_prices(PRICES, country, currency))
    assume(not _read_as_another_local_currency(style, currency, country, language))
    written = format_price(amount, currency, style, language)
    assume(written is not None)
    draft = SENTENCE[language].format(product=_name(product, language), price=written)
    verdict = check_prices(draft, PRICES, country)
    assert verdict.kind is not VerdictKind.PASS, f"{draft!r} to {country} passed: {verdict.reason}"
