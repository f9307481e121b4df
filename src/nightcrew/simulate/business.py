"""The sample business: who writes to Aurora Kids Academy, from where, when, and about what."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

from nightcrew.simulate.behaviour import Persona


@dataclass(frozen=True)
class Market:
    """A country the academy sells in."""

    country: str
    name: str
    weight: float
    language: str
    cities: tuple[tuple[str, str], ...]  # (city, IANA timezone)


MARKETS: tuple[Market, ...] = (
    Market(
        "MX",
        "México",
        0.28,
        "es",
        (
            ("Ciudad de México", "America/Mexico_City"),
            ("Guadalajara", "America/Mexico_City"),
            ("Monterrey", "America/Monterrey"),
            ("Tijuana", "America/Tijuana"),
        ),
    ),
    Market(
        "CO",
        "Colombia",
        0.18,
        "es",
        (("Bogotá", "America/Bogota"), ("Medellín", "America/Bogota"), ("Cali", "America/Bogota")),
    ),
    Market(
        "BR",
        "Brasil",
        0.20,
        "pt",
        (
            ("São Paulo", "America/Sao_Paulo"),
            ("Rio de Janeiro", "America/Sao_Paulo"),
            ("Belo Horizonte", "America/Sao_Paulo"),
            ("Recife", "America/Recife"),
            ("Manaus", "America/Manaus"),
        ),
    ),
    Market(
        "AR",
        "Argentina",
        0.10,
        "es",
        (("Buenos Aires", "America/Argentina/Buenos_Aires"), ("Córdoba", "America/Argentina/Cordoba")),
    ),
    Market("CL", "Chile", 0.08, "es", (("Santiago", "America/Santiago"),)),
    Market("PE", "Perú", 0.08, "es", (("Lima", "America/Lima"),)),
    Market(
        "US",
        "United States",
        0.08,
        "en",
        (
            ("Miami", "America/New_York"),
            ("Houston", "America/Chicago"),
            ("Los Angeles", "America/Los_Angeles"),
        ),
    ),
)

FIRST_NAMES = {
    "es": (
        "María",
        "Lucía",
        "Camila",
        "Valentina",
        "Sofía",
        "Daniela",
        "Andrea",
        "Paola",
        "Carlos",
        "Juan",
        "Diego",
        "Andrés",
        "Luis",
        "Fernanda",
        "Gabriela",
        "Natalia",
        "Jorge",
        "Ricardo",
        "Mariana",
        "Alejandra",
    ),
    "pt": (
        "Ana",
        "Juliana",
        "Fernanda",
        "Patrícia",
        "Camila",
        "Aline",
        "Mariana",
        "Bruna",
        "Rafael",
        "Lucas",
        "Thiago",
        "Rodrigo",
        "Gustavo",
        "Renata",
        "Carla",
        "Vanessa",
        "Felipe",
        "Marcelo",
        "Letícia",
        "Priscila",
    ),
    "en": (
        "Jennifer",
        "Jessica",
        "Ashley",
        "Sarah",
        "Emily",
        "Michael",
        "David",
        "Chris",
        "Laura",
        "Melissa",
        "Vanessa",
        "Kevin",
        "Brian",
        "Stephanie",
        "Nicole",
        "Daniel",
        "Amanda",
        "Rachel",
        "Jason",
        "Monica",
    ),
}
LAST_NAMES = {
    "es": (
        "García",
        "Rodríguez",
        "Martínez",
        "López",
        "Hernández",
        "González",
        "Pérez",
        "Sánchez",
        "Ramírez",
        "Torres",
        "Flores",
        "Rivera",
        "Gómez",
        "Díaz",
        "Morales",
    ),
    "pt": (
        "Silva",
        "Santos",
        "Oliveira",
        "Souza",
        "Lima",
        "Pereira",
        "Costa",
        "Ferreira",
        "Almeida",
        "Carvalho",
        "Gomes",
        "Ribeiro",
        "Martins",
        "Rocha",
        "Barbosa",
    ),
    "en": (
        "Smith",
        "Johnson",
        "Garcia",
        "Martinez",
        "Brown",
        "Davis",
        "Lopez",
        "Wilson",
        "Anderson",
        "Taylor",
        "Thomas",
        "Moore",
        "Jackson",
        "White",
        "Harris",
    ),
}
INQUIRY_TYPES = (("english_course", 0.45), ("coding_course", 0.30), ("both", 0.15), ("unsure", 0.10))
SOURCES = (
    ("instagram", 0.27),
    ("facebook", 0.18),
    ("google_ads", 0.20),
    ("referral", 0.10),
    ("tiktok", 0.10),
    ("website", 0.10),
    ("school_fair", 0.05),
)
CHANNELS = (("whatsapp", 0.70), ("sms", 0.10), ("email", 0.20))
# Parents write after work and after the children's bedtime: many leads arrive outside sending hours.
ARRIVAL_HOURS = (
    0.5,
    0.3,
    0.2,
    0.1,
    0.1,
    0.2,
    0.6,
    1.2,
    2.0,
    2.6,
    2.8,
    3.0,
    3.2,
    3.0,
    2.8,
    2.8,
    3.0,
    3.4,
    4.0,
    4.6,
    5.0,
    5.2,
    4.2,
    2.0,
)


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    values, weights = zip(*weighted, strict=True)
    return str(rng.choices(values, weights=weights)[0])


def _phone(rng: random.Random, market: Market) -> str:
    """A valid mobile number for the market: the country's example number with random trailing digits."""
    example = phonenumbers.example_number_for_type(market.country, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        raise ValueError(f"no example mobile number for {market.country}")
    national = str(example.national_number)
    keep = max(2, len(national) - 7)
    for _ in range(50):
        candidate = national[:keep] + "".join(str(rng.randrange(10)) for _ in range(len(national) - keep))
        number = phonenumbers.parse(f"+{example.country_code}{candidate}", None)
        if phonenumbers.is_valid_number(number):
            return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return str(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))


def sample_lead_fields(rng: random.Random) -> tuple[Market, str, dict[str, Any]]:
    """One lead's market, city timezone and intake fields, drawn from the business's mix."""
    market = rng.choices(MARKETS, weights=[m.weight for m in MARKETS])[0]
    city, tz = rng.choice(market.cities)
    inquiry = _pick(rng, INQUIRY_TYPES)
    min_age = 8 if inquiry == "coding_course" else 6
    fields: dict[str, Any] = {
        "child_age": rng.randint(min_age, 16),
        "country": market.country,
        "city": city,
        "inquiry_type": inquiry,
        "source": _pick(rng, SOURCES),
        "preferred_channel": _pick(rng, CHANNELS),
        "number_of_children": rng.choices((1, 2, 3), weights=(0.75, 0.21, 0.04))[0],
        "asked_price": rng.random() < 0.35,
    }
    if rng.random() < 0.08:
        del fields["child_age"]  # Some forms leave it blank.
    return market, tz, fields


def language_of(rng: random.Random, market: Market) -> str:
    """The language a contact from ``market`` writes in (US families split between English and Spanish)."""
    if market.country == "US":
        return "en" if rng.random() < 0.6 else "es"
    return market.language


def lead_event(rng: random.Random, index: int, occurred_at: datetime) -> dict[str, Any]:
    """A ``lead.created`` event as a CRM or form would send it, with realistic gaps in what is known."""
    market, tz, fields = sample_lead_fields(rng)
    language = language_of(rng, market)
    first = rng.choice(FIRST_NAMES[language])
    last = rng.choice(LAST_NAMES[language])
    contact: dict[str, Any] = {
        "external_id": f"lead-{index:05d}",
        "name": f"{first} {last}",
        "location": f"{fields['city']}, {market.name}",
        "fields": fields,
    }
    channel = fields["preferred_channel"]
    if channel == "email" or rng.random() < 0.4:
        contact["email"] = f"{first.lower()}.{last.lower()}{index}@example.com".encode("ascii", "ignore").decode()
    if channel != "email" or rng.random() < 0.5:
        contact["phone"] = _phone(rng, market)
    if rng.random() < 0.55:
        contact["language"] = language
    if rng.random() < 0.5:
        contact["timezone"] = tz
    return {
        "id": f"demo-lead-{index:05d}",
        "type": "lead.created",
        "occurred_at": occurred_at.isoformat(),
        "contact": contact,
        "data": {"source": fields["source"]},
    }


def arrival_times(rng: random.Random, start: datetime, days: int, count: int) -> list[datetime]:
    """When ``count`` leads arrive over ``days``, following the evening-heavy daily curve (Mexico City time)."""
    zone = ZoneInfo("America/Mexico_City")
    local_start = start.astimezone(zone)
    times = []
    for _ in range(count):
        day = rng.randrange(days)
        hour = rng.choices(range(24), weights=ARRIVAL_HOURS)[0]
        moment = (local_start + timedelta(days=day)).replace(
            hour=hour, minute=rng.randrange(60), second=rng.randrange(60), microsecond=0
        )
        times.append(moment.astimezone(start.tzinfo))
    return sorted(times)


def live_lead_events(
    rng: random.Random, count: int, start: datetime, days: int, seed: int
) -> tuple[list[dict[str, Any]], dict[str, Persona]]:
    """This month's leads, drawn like the history (same fields, same hidden propensity to enrol)."""
    from nightcrew.simulate.history import generate_history

    rows = generate_history(count, seed, end_date=start + timedelta(days=days)).to_dict("records")
    names = {market.country: market for market in MARKETS}
    events, personas = [], {}
    for index, (row, occurred_at) in enumerate(zip(rows, arrival_times(rng, start, days, count), strict=True)):
        market = names.get(str(row["country"]), MARKETS[0])
        language = str(row["parent_language"])
        first = rng.choice(FIRST_NAMES.get(language, FIRST_NAMES["es"]))
        last = rng.choice(LAST_NAMES.get(language, LAST_NAMES["es"]))
        fields = {
            key: _plain(row[key])
            for key in (
                "child_age",
                "country",
                "city",
                "inquiry_type",
                "source",
                "preferred_channel",
                "number_of_children",
                "asked_price",
                "first_message",
                "parent_language",
            )
            if _plain(row.get(key)) is not None
        }
        external_id = f"lead-{index:05d}"
        contact: dict[str, Any] = {
            "external_id": external_id,
            "name": f"{first} {last}",
            "fields": fields,
            "location": f"{row['city'] if _plain(row.get('city')) else market.cities[0][0]}, {market.name}",
        }
        channel = fields.get("preferred_channel") or "whatsapp"
        if channel == "email" or rng.random() < 0.4:
            contact["email"] = f"{first.lower()}.{last.lower()}{index}@example.com".encode("ascii", "ignore").decode()
        if channel != "email" or rng.random() < 0.5:
            contact["phone"] = _phone(rng, market)
        if rng.random() < 0.55:
            contact["language"] = language
        events.append(
            {
                "id": f"demo-lead-{index:05d}",
                "type": "lead.created",
                "occurred_at": occurred_at.isoformat(),
                "contact": contact,
                "data": {"source": fields.get("source")},
            }
        )
        personas[external_id] = Persona(external_id, language, enrols=row["enrolled"] == "yes")
    return events, personas


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar (pandas' missing values become None)."""
    if value is None:
        return None
    try:
        if value != value:  # NaN
            return None
    except (TypeError, ValueError):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value
