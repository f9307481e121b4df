"""Where a contact is: timezone from the contact, else its location, else its phone number."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone

# Country names as contacts write them (es/pt/en) -> ISO 3166 alpha-2. The markets an
# education business in the Americas serves; an ISO code is always understood as-is.
_COUNTRY_NAMES: dict[str, str] = {
    "mexico": "MX",
    "méxico": "MX",
    "mx": "MX",
    "colombia": "CO",
    "argentina": "AR",
    "chile": "CL",
    "peru": "PE",
    "perú": "PE",
    "ecuador": "EC",
    "bolivia": "BO",
    "paraguay": "PY",
    "uruguay": "UY",
    "venezuela": "VE",
    "brasil": "BR",
    "brazil": "BR",
    "costa rica": "CR",
    "panama": "PA",
    "panamá": "PA",
    "guatemala": "GT",
    "honduras": "HN",
    "el salvador": "SV",
    "nicaragua": "NI",
    "republica dominicana": "DO",
    "república dominicana": "DO",
    "dominican republic": "DO",
    "puerto rico": "PR",
    "cuba": "CU",
    "espana": "ES",
    "españa": "ES",
    "spain": "ES",
    "portugal": "PT",
    "estados unidos": "US",
    "eua": "US",
    "eeuu": "US",
    "usa": "US",
    "united states": "US",
    "canada": "CA",
    "canadá": "CA",
}

# Cities whose timezone differs from their country's first one, or that contacts name alone.
_CITY_TIMEZONES: dict[str, str] = {
    "ciudad de mexico": "America/Mexico_City",
    "cdmx": "America/Mexico_City",
    "mexico city": "America/Mexico_City",
    "guadalajara": "America/Mexico_City",
    "monterrey": "America/Monterrey",
    "tijuana": "America/Tijuana",
    "cancun": "America/Cancun",
    "bogota": "America/Bogota",
    "medellin": "America/Bogota",
    "cali": "America/Bogota",
    "buenos aires": "America/Argentina/Buenos_Aires",
    "cordoba": "America/Argentina/Cordoba",
    "santiago": "America/Santiago",
    "lima": "America/Lima",
    "quito": "America/Guayaquil",
    "guayaquil": "America/Guayaquil",
    "montevideo": "America/Montevideo",
    "asuncion": "America/Asuncion",
    "caracas": "America/Caracas",
    "la paz": "America/La_Paz",
    "sao paulo": "America/Sao_Paulo",
    "rio de janeiro": "America/Sao_Paulo",
    "belo horizonte": "America/Sao_Paulo",
    "brasilia": "America/Sao_Paulo",
    "porto alegre": "America/Sao_Paulo",
    "curitiba": "America/Sao_Paulo",
    "salvador": "America/Bahia",
    "recife": "America/Recife",
    "fortaleza": "America/Fortaleza",
    "manaus": "America/Manaus",
    "miami": "America/New_York",
    "new york": "America/New_York",
    "houston": "America/Chicago",
    "los angeles": "America/Los_Angeles",
    "madrid": "Europe/Madrid",
    "lisboa": "Europe/Lisbon",
    "lisbon": "Europe/Lisbon",
    "san jose": "America/Costa_Rica",
    "panama city": "America/Panama",
    "santo domingo": "America/Santo_Domingo",
}

# A country's most populous zone, where phonenumbers lists several.
_COUNTRY_PRIMARY_TZ: dict[str, str] = {
    "MX": "America/Mexico_City",
    "BR": "America/Sao_Paulo",
    "AR": "America/Argentina/Buenos_Aires",
    "US": "America/New_York",
    "CA": "America/Toronto",
    "CL": "America/Santiago",
    "EC": "America/Guayaquil",
    "ES": "Europe/Madrid",
    "PT": "Europe/Lisbon",
}


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def valid_timezone(name: str | None) -> ZoneInfo | None:
    """Return the zone for an IANA name, or None when it is empty or unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def country_from_location(location: str | None) -> str | None:
    """Read an ISO country code out of a free-text location such as 'Medellín, Colombia'."""
    if not location:
        return None
    parts = [p.strip() for p in re.split(r"[,/|-]", location) if p.strip()]
    for part in reversed(parts):
        folded = _fold(part)
        for name, code in _COUNTRY_NAMES.items():
            if _fold(name) == folded:
                return code
        if len(part) == 2 and part.isalpha() and part.isupper():
            return str(part)
    return None


@lru_cache(maxsize=256)
def _country_timezone(country: str) -> str | None:
    if country in _COUNTRY_PRIMARY_TZ:
        return _COUNTRY_PRIMARY_TZ[country]
    example = phonenumbers.example_number(country)
    if example is None:
        return None
    zones = [z for z in phone_timezone.time_zones_for_number(example) if z != "Etc/Unknown"]
    return zones[0] if zones else None


def timezone_from_location(location: str | None) -> str | None:
    """Timezone for a city or country written in free text, when we know it."""
    if not location:
        return None
    for part in (p.strip() for p in re.split(r"[,/|]", location)):
        tz = _CITY_TIMEZONES.get(_fold(part))
        if tz:
            return tz
    country = country_from_location(location)
    return _country_timezone(country) if country else None


def parse_phone(phone: str | None) -> phonenumbers.PhoneNumber | None:
    """Parse an E.164-ish phone number; None when it cannot be read."""
    if not phone:
        return None
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_possible_number(parsed) else None


def timezone_from_phone(phone: str | None) -> str | None:
    """Timezone for a phone number: the country's primary zone, or the number's own when unique."""
    parsed = parse_phone(phone)
    if parsed is None:
        return None
    zones = [z for z in phone_timezone.time_zones_for_number(parsed) if z != "Etc/Unknown"]
    if len(zones) == 1:
        return zones[0]
    region = phonenumbers.region_code_for_number(parsed)
    return _country_timezone(region) if region else (zones[0] if zones else None)


def country_from_phone(phone: str | None) -> str | None:
    """ISO country code of a phone number."""
    parsed = parse_phone(phone)
    if parsed is None:
        return None
    return phonenumbers.region_code_for_number(parsed)


def resolve_timezone(
    timezone: str | None, location: str | None, phone: str | None, default: str
) -> tuple[ZoneInfo, str]:
    """The contact's zone and where it came from: 'contact', 'location', 'phone' or 'default'."""
    zone = valid_timezone(timezone)
    if zone is not None:
        return zone, "contact"
    for source, guess in (("location", timezone_from_location(location)), ("phone", timezone_from_phone(phone))):
        zone = valid_timezone(guess)
        if zone is not None:
            return zone, source
    return ZoneInfo(default), "default"


def resolve_country(location: str | None, phone: str | None) -> str | None:
    """The contact's country, from location first, then phone."""
    return country_from_location(location) or country_from_phone(phone)
