"""Two years of lead history for the sample business, Aurora Kids Academy (demo and benchmarks).

Aurora teaches English and coding to children across Latin America (MX, CO, AR, CL, PE, BR) and to
Hispanic families in the US. Whether a lead enrolled depends on the intake fields the way it does in a
real school's CRM: in interactions (a referral asking about coding for a 10-14 year old converts
well; a slow answer hurts most on paid social), with seasonality (school years start in March in the
south and in August in the north), unobserved noise, and gaps in the data. The same seed gives the
same history.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

COUNTRIES = ("MX", "CO", "AR", "CL", "PE", "BR", "US")
COUNTRY_SHARE = (0.28, 0.17, 0.12, 0.10, 0.10, 0.14, 0.09)
COUNTRY_EFFECT = {"MX": 0.0, "CO": 0.0, "AR": -0.35, "CL": 0.2, "PE": -0.1, "BR": 0.1, "US": 0.35}
SOUTHERN = frozenset({"AR", "CL", "PE", "BR"})
CITIES = {
    "MX": ["Ciudad de México", "Guadalajara", "Monterrey", "Puebla", "Querétaro", "Mérida", "Tijuana", "León"],
    "CO": ["Bogotá", "Medellín", "Cali", "Barranquilla", "Bucaramanga", "Cartagena", "Pereira"],
    "AR": ["Buenos Aires", "Córdoba", "Rosario", "Mendoza", "La Plata", "Tucumán"],
    "CL": ["Santiago", "Valparaíso", "Concepción", "Antofagasta", "La Serena"],
    "PE": ["Lima", "Arequipa", "Trujillo", "Cusco", "Piura"],
    "BR": ["São Paulo", "Rio de Janeiro", "Belo Horizonte", "Curitiba", "Porto Alegre", "Recife", "Salvador"],
    "US": ["Miami", "Houston", "Los Angeles", "San Antonio", "Chicago", "Phoenix", "New York", "Dallas"],
}
#: Small towns: a long tail of rare categories, as in any real CRM export.
TOWNS = {
    "MX": ["Celaya", "Irapuato", "Colima", "Tepic", "Zacatecas", "Pachuca", "Cuernavaca", "Toluca"],
    "CO": ["Manizales", "Armenia", "Ibagué", "Neiva", "Pasto", "Villavicencio"],
    "AR": ["Salta", "Neuquén", "Bahía Blanca", "Paraná", "Posadas"],
    "CL": ["Temuco", "Rancagua", "Talca", "Iquique", "Puerto Montt"],
    "PE": ["Chiclayo", "Huancayo", "Iquitos", "Tacna", "Puno"],
    "BR": ["Campinas", "Florianópolis", "Goiânia", "Natal", "Vitória", "Londrina"],
    "US": ["El Paso", "Fresno", "Orlando", "Denver", "Las Vegas", "Albuquerque"],
}
SOURCES = ("instagram", "facebook", "google_ads", "referral", "tiktok", "website", "school_fair")
SOURCE_SHARE = (0.24, 0.18, 0.17, 0.10, 0.13, 0.12, 0.06)
SOURCE_EFFECT = {
    "instagram": -0.1,
    "facebook": 0.0,
    "google_ads": 0.25,
    "referral": 1.1,
    "tiktok": -0.55,
    "website": 0.35,
    "school_fair": 0.6,
}
PAID_SOCIAL = frozenset({"instagram", "facebook", "tiktok"})
INQUIRIES = ("english_course", "coding_course", "both", "unsure")
INQUIRY_SHARE = (0.42, 0.30, 0.13, 0.15)
INQUIRY_EFFECT = {"english_course": 0.0, "coding_course": 0.15, "both": 0.45, "unsure": -0.8}
CHANNEL_EFFECT = {"whatsapp": 0.25, "sms": 0.0, "email": -0.3}
INTERCEPT = -2.4
NOISE = 0.5

_COURSE = {
    "es": {"english_course": "el curso de inglés", "coding_course": "las clases de programación",
           "both": "inglés y programación", "unsure": "sus cursos"},
    "pt": {"english_course": "o curso de inglês", "coding_course": "as aulas de programação",
           "both": "inglês e programação", "unsure": "os cursos"},
    "en": {"english_course": "the English course", "coding_course": "the coding classes",
           "both": "English and coding", "unsure": "your courses"},
}  # fmt: skip
_GREETING = {"es": ["Hola", "Buenas tardes", "Buen día", "Qué tal"], "pt": ["Olá", "Oi", "Boa tarde"],
             "en": ["Hi", "Hello", "Good afternoon"]}  # fmt: skip
_ASK = {"es": "quisiera información sobre", "pt": "gostaria de informações sobre", "en": "I'd like information about"}
_CHILD = {
    "es": ("para mi hijo de {age} años", "para mi hija de {age} años", "para mis hijos"),
    "pt": ("para meu filho de {age} anos", "para minha filha de {age} anos", "para meus filhos"),
    "en": ("for my son, {age}", "for my daughter, {age}", "for my kids"),
}
_PRICE = {"es": "¿Cuál es el precio?", "pt": "Qual é o valor?", "en": "How much does it cost?"}
_URGENT = {
    "es": ["Queremos empezar este mes.", "¿Hay cupo para empezar ya?", "Necesitamos inscribirlo pronto."],
    "pt": ["Queremos começar este mês.", "Tem vaga para começar já?", "Precisamos matricular logo."],
    "en": ["We'd like to start this month.", "Is there a spot to start right away?", "We need to enrol soon."],
}
_VAGUE = {"es": ["info", "precio?", "hola info porfa"], "pt": ["info", "valor?", "oi, info"],
          "en": ["info", "price?", "hi info pls"]}  # fmt: skip


def generate_history(
    n_rows: int,
    seed: int,
    end_date: date | datetime,
    *,
    include_leaky: bool = False,
) -> pd.DataFrame:
    """Leads created over the two years before ``end_date`` with their outcome ``enrolled`` (yes/no).

    ``include_leaky`` adds ``paid_amount`` and ``enrolment_invoice_id``: columns only filled in after a
    family enrolled, which a leakage check must catch.
    """
    if n_rows < 1:
        raise ValueError("n_rows must be positive")
    rng = np.random.default_rng(seed)
    end = end_date if isinstance(end_date, datetime) else datetime(end_date.year, end_date.month, end_date.day)
    end = end.replace(tzinfo=None) if end.tzinfo is None else end.astimezone(UTC).replace(tzinfo=None)
    created = _created_at(rng, n_rows, end)
    month = created.month.to_numpy()

    country = rng.choice(COUNTRIES, size=n_rows, p=COUNTRY_SHARE)
    city = _cities(rng, country)
    language = _languages(rng, country)
    inquiry = rng.choice(INQUIRIES, size=n_rows, p=INQUIRY_SHARE)
    age = _ages(rng, inquiry)
    source_share = np.tile(np.array(SOURCE_SHARE), (n_rows, 1))
    # TikTok grows from a small channel to a big one over the two years.
    growth = (created - created.min()).days.to_numpy() / 730.0
    source_share[:, SOURCES.index("tiktok")] *= 0.5 + 1.2 * growth
    cumulative = np.cumsum(source_share / source_share.sum(axis=1, keepdims=True), axis=1)
    pick = (rng.random((n_rows, 1)) < cumulative).argmax(axis=1)
    source = np.array(SOURCES, dtype=object)[pick]
    channel = np.where(
        country == "US",
        rng.choice(["whatsapp", "sms", "email"], size=n_rows, p=[0.45, 0.25, 0.30]),
        rng.choice(["whatsapp", "sms", "email"], size=n_rows, p=[0.74, 0.08, 0.18]),
    )
    children = rng.choice([1, 2, 3, 4], size=n_rows, p=[0.68, 0.25, 0.06, 0.01])
    paid_social = np.isin(source, list(PAID_SOCIAL))
    asked_price = rng.random(n_rows) < np.where(paid_social, 0.55, 0.38)
    hour = created.hour.to_numpy()
    weekend = created.weekday.to_numpy() >= 5
    night = (hour >= 22) | (hour < 8)
    slow_hours = np.where(night, 6.0, 1.0) * np.where(weekend, 2.5, 1.0)
    response = np.round(np.minimum(rng.lognormal(np.log(18.0), 1.1, n_rows) * slow_hours, 60.0 * 24 * 4), 1)
    intent = rng.choice(["urgent", "normal", "vague"], size=n_rows, p=[0.18, 0.67, 0.15])
    draws = rng.integers(0, 1_000_000, size=(n_rows, 3))
    message = [
        _message(draws[i], language[i], inquiry[i], age[i], children[i], bool(asked_price[i]), intent[i])
        for i in range(n_rows)
    ]

    z = np.full(n_rows, INTERCEPT)
    z += np.array([SOURCE_EFFECT[s] for s in source])
    z += np.array([INQUIRY_EFFECT[i] for i in inquiry])
    z += np.array([COUNTRY_EFFECT[c] for c in country])
    z += np.array([CHANNEL_EFFECT[c] for c in channel])
    english, coding = inquiry == "english_course", np.isin(inquiry, ["coding_course", "both"])
    z += np.where(english & (age >= 6) & (age <= 10), 0.3, 0.0) - np.where(english & (age >= 13), 0.4, 0.0)
    z += np.where(coding & (age >= 10) & (age <= 14), 0.35, 0.0) - np.where(coding & (age < 8), 0.9, 0.0)
    z += np.where((source == "referral") & coding & (age >= 10) & (age <= 14), 1.6, 0.0)
    # Brazilian families come for English; Argentine ones for coding.
    z += np.where((country == "BR") & english, 0.5, 0.0) - np.where((country == "BR") & coding, 0.4, 0.0)
    z += np.where((country == "AR") & coding, 0.45, 0.0)
    slowness = np.log1p(response / 5.0)
    z -= 0.3 * slowness + np.where(paid_social, 0.45 * slowness, 0.0)
    z += 0.35 * asked_price + np.where(asked_price & (children >= 2), 0.35, 0.0) + np.where(children >= 2, 0.15, 0.0)
    z += np.where(intent == "urgent", 1.3, 0.0) - np.where(intent == "vague", 0.8, 0.0)
    southern = np.isin(country, sorted(SOUTHERN))
    start_of_year = np.where(southern, np.isin(month, [1, 2, 3]), np.isin(month, [7, 8, 9]))
    z += 0.25 * start_of_year
    z += rng.normal(0.0, NOISE, n_rows)
    enrolled = rng.random(n_rows) < 1.0 / (1.0 + np.exp(-z))

    frame = pd.DataFrame(
        {
            "lead_id": [f"AK-{i + 1:06d}" for i in range(n_rows)],
            "created_at": created,
            "country": country,
            "city": _blank(rng, city, 0.06),
            "parent_language": language,
            "child_age": pd.array(np.where(rng.random(n_rows) < 0.04, -1, age), dtype="Int64"),
            "inquiry_type": inquiry,
            "source": source,
            "preferred_channel": _blank(rng, channel.astype(object), 0.03),
            "number_of_children": children,
            "asked_price": asked_price,
            "first_message": message,
            "response_minutes": np.where(rng.random(n_rows) < 0.02, np.nan, response),
            "enrolled": np.where(enrolled, "yes", "no"),
        }
    )
    frame.loc[frame["child_age"] == -1, "child_age"] = pd.NA
    if include_leaky:
        fee = rng.choice([49.0, 59.0, 79.0, 99.0], size=n_rows) * children
        frame["paid_amount"] = np.where(enrolled, fee, np.nan)
        frame["enrolment_invoice_id"] = [f"INV-{i + 1:06d}" if e else None for i, e in enumerate(enrolled)]
    return frame


def write_history_csv(
    path: Path,
    n_rows: int,
    seed: int,
    end_date: date | datetime,
    *,
    include_leaky: bool = False,
    delimiter: str = ",",
) -> Path:
    """Write :func:`generate_history` to ``path`` as CSV and return the path."""
    frame = generate_history(n_rows, seed, end_date, include_leaky=include_leaky)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, sep=delimiter, date_format="%Y-%m-%d %H:%M:%S")
    return path


def _created_at(rng: np.random.Generator, n: int, end: datetime) -> pd.DatetimeIndex:
    days = pd.date_range(end=end.date() - timedelta(days=1), periods=730, freq="D")
    month = days.month.to_numpy()
    weight = 1.0 + 0.6 * np.isin(month, [1, 2, 3]) + 0.4 * np.isin(month, [7, 8]) - 0.3 * (month == 12)
    weight = weight * np.where(days.weekday.to_numpy() >= 5, 0.7, 1.0) * np.linspace(0.8, 1.2, days.size)
    day = rng.choice(days.size, size=n, p=weight / weight.sum())
    hour_weight = np.array([1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 4, 4, 4, 5, 5, 4, 4, 4, 5, 6, 7, 7, 6, 4, 2], float)
    hour = rng.choice(24, size=n, p=hour_weight / hour_weight.sum())
    minute = rng.integers(0, 60, size=n)
    stamps = days[day] + pd.to_timedelta(hour, unit="h") + pd.to_timedelta(minute, unit="m")
    return pd.DatetimeIndex(np.sort(stamps.to_numpy()))


def _cities(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    out = np.empty(country.size, dtype=object)
    for code in COUNTRIES:
        rows = np.flatnonzero(country == code)
        cities = CITIES[code]
        weights = 1.0 / np.arange(1, len(cities) + 1)
        big = rng.choice(cities, size=rows.size, p=weights / weights.sum())
        town = rng.choice(TOWNS[code], size=rows.size)
        out[rows] = np.where(rng.random(rows.size) < 0.12, town, big)
    return out


def _languages(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    out = rng.choice(["es", "en"], size=country.size, p=[0.97, 0.03]).astype(object)
    brazil, us = country == "BR", country == "US"
    out[brazil] = rng.choice(["pt", "es", "en"], size=int(brazil.sum()), p=[0.93, 0.03, 0.04])
    out[us] = rng.choice(["es", "en"], size=int(us.sum()), p=[0.55, 0.45])
    return out


def _ages(rng: np.random.Generator, inquiry: np.ndarray) -> np.ndarray:
    ranges = {"english_course": (4, 8, 15), "coding_course": (7, 11, 17), "both": (7, 10, 14), "unsure": (4, 9, 16)}
    out = np.zeros(inquiry.size, dtype=np.int64)
    for kind, (low, mode, high) in ranges.items():
        rows = np.flatnonzero(inquiry == kind)
        out[rows] = np.round(rng.triangular(low, mode, high, size=rows.size)).astype(np.int64)
    return out


def _message(draw: np.ndarray, language: str, inquiry: str, age: int, children: int, price: bool, intent: str) -> str:
    picks = [int(d) for d in draw]
    if intent == "vague":
        return _VAGUE[language][picks[0] % len(_VAGUE[language])]
    child = _CHILD[language][2] if children > 1 else _CHILD[language][picks[1] % 2].format(age=age)
    greeting = _GREETING[language][picks[0] % len(_GREETING[language])]
    parts = [f"{greeting}, {_ASK[language]} {_COURSE[language][inquiry]} {child}."]
    if price:
        parts.append(_PRICE[language])
    if intent == "urgent":
        parts.append(_URGENT[language][picks[2] % len(_URGENT[language])])
    return " ".join(parts)


def _blank(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    out = values.astype(object).copy()
    out[rng.random(values.size) < share] = None
    return out
