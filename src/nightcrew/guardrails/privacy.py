"""Privacy: no other person's email, phone or documents, no secrets, links only to allowed domains."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

import phonenumbers

from nightcrew.guardrails.context import ContactInfo
from nightcrew.guardrails.places import country_from_location, parse_phone
from nightcrew.guardrails.policy import PrivacyPolicy
from nightcrew.guardrails.text import fold, normalize
from nightcrew.guardrails.verdict import Verdict

CHECK = "privacy"

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_GENERIC_TLDS = [
    "com", "net", "org", "info", "biz", "io", "ai", "app", "dev", "link", "site", "online", "store", "shop", "xyz",
    "club", "page", "edu", "gov", "mobi", "name", "pro", "live", "tech", "blog", "news", "email", "click", "top",
    "vip", "art", "fun", "example", "test",
]  # fmt: skip
_TLDS = "|".join(
    sorted({*_GENERIC_TLDS, "uk", *(r.lower() for r in phonenumbers.SUPPORTED_REGIONS)}, key=len, reverse=True)
)
_URL = re.compile(
    rf"(?:https?://|www\.)[^\s<>\"'()]+|(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:{_TLDS})(?![\w-])(?:/[^\s<>\"'()]*)?",
    re.IGNORECASE,
)
_SECRETS: list[tuple[str, re.Pattern[str]]] = [
    ("an OpenAI/Anthropic-style API key", re.compile(r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_\-]{16,}")),
    ("an AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}")),
    ("a Stripe key", re.compile(r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}")),
    ("a JSON web token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a bearer token", re.compile(r"\bBearer\s+[A-Za-z0-9._\-]{16,}")),
    (
        "a password or key",
        re.compile(
            r"\b(?:password|passwd|contrase[nñ]a|senha|api[_ -]?key|secret|token|clave de acceso)\s*[:=]\s*\S{4,}",
            re.IGNORECASE,
        ),
    ),
]
_LONG_TOKEN = re.compile(r"(?<![\w/=?&.-])[A-Za-z0-9+/_-]{32,}={0,2}(?![\w/-])")
_CPF = re.compile(r"(?<!\d)\d{3}\.\d{3}\.\d{3}-\d{2}(?!\d)")
_CARD = re.compile(r"(?<![\d+])(?:\d{4}[ -]?){3}\d{4}(?!\d)|(?<![\d+])\d{4}[ -]?\d{6}[ -]?\d{5}(?!\d)")
_GREETING = re.compile(
    r"^\W*(?:hola|hi|hello|hey|oi|ol[aá]|buen[oa]s (?:d[ií]as|tardes|noches)|bom dia|boa tarde|boa noite|dear|"
    r"querid[oa]|estimad[oa]|prezad[oa])\s*,?\s+(?P<name>[A-ZÁÉÍÓÚÑÇ][^\W\d_]+)",
    re.IGNORECASE,
)
_OTHER_FAMILY = re.compile(
    r"\b(?:la mam[aá]|el pap[aá]|la madre|el padre|el hermano|la hermana|los pap[aá]s|a m[aã]e|o pai|"
    r"the (?:mother|father|mom|dad|parents?)|[A-Z][a-z]+'s (?:mom|dad|mother|father|parents))"
    r"(?:\s+(?:de|do|da|of))?\s+(?P<name>[A-ZÁÉÍÓÚÑ][^\W\d_]+)"
)
_NOT_NAMES = frozenset(
    [
        "equipo", "equipe", "team", "familia", "family", "todos", "everyone", "senor", "senora", "senhor", "senhora",
        "mr", "mrs", "ms"
    ]
)  # fmt: skip


def _greeted_name(text: str) -> str | None:
    """The first name a draft greets ('Hola María,' -> 'María'), when it opens with a greeting."""
    match = _GREETING.match(text)
    if not match:
        return None
    name = match.group("name")
    return None if not name[0].isupper() or fold(name) in _NOT_NAMES else name


def _luhn(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()]
    checksum = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        checksum += digit
    return checksum % 10 == 0


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _host_allowed(host: str, domains: Sequence[str]) -> bool:
    host = host.lower().rstrip(".").removeprefix("www.")
    return any(host == d or host.endswith("." + d) for d in domains)


def find_links(text: str) -> list[str]:
    """Every link or bare domain in a text, without trailing punctuation."""
    emails = [m.span() for m in _EMAIL.finditer(text)]
    links = []
    for match in _URL.finditer(text):
        if any(s <= match.start() < e for s, e in emails):
            continue
        links.append(match.group().rstrip(".,;:!?¡¿)"))
    return links


def link_host(link: str) -> str:
    """The host a link really points to (user-info tricks like 'good.com@evil.com' resolved)."""
    target = link if re.match(r"https?://", link, re.IGNORECASE) else f"http://{link}"
    try:
        return (urlsplit(target).hostname or "").lower()
    except ValueError:
        return ""


def check_privacy(text: str, contact: ContactInfo, policy: PrivacyPolicy, *, link_domains: Sequence[str]) -> Verdict:
    """Block other people's emails and phones, documents and secrets; links only to the allowed domains."""
    text = normalize(text)
    blocks: list[str] = []
    reviews: list[str] = []
    own_emails = {e.lower() for e in [contact.email, *policy.business_emails] if e}
    for match in _EMAIL.finditer(text):
        email = match.group().lower().rstrip(".")
        domain = email.rsplit("@", 1)[1]
        if email not in own_emails and not _host_allowed(domain, link_domains):
            blocks.append(f"email '{match.group()}' is neither the contact's nor the business's")
    region = country_from_location(contact.location)
    own = parse_phone(contact.phone)
    region = region or (phonenumbers.region_code_for_number(own) if own else None) or "MX"
    own_phones = {_e164(p) for p in (own, *(parse_phone(b) for b in policy.business_phones)) if p is not None}
    for found in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
        if _e164(found.number) not in own_phones:
            blocks.append(f"phone number '{found.raw_string}' is neither the contact's nor the business's")
    for name, pattern in _SECRETS:
        for match in pattern.finditer(text):
            blocks.append(f"the draft carries {name} ('{match.group()[:8]}…')")
    links = find_links(text)
    for link in links:
        host = link_host(link)
        if not host or not _host_allowed(host, link_domains):
            target = reviews if policy.on_foreign_link == "review" else blocks
            target.append(
                f"link '{link}' points to {host or 'an unreadable host'}, "
                f"not an allowed domain ({', '.join(link_domains) or 'none'})"
            )
    link_text = " ".join(links)
    for match in _LONG_TOKEN.finditer(text):
        token = match.group()
        if token in link_text or not (
            re.search(r"\d", token) and re.search(r"[A-Z]", token) and re.search(r"[a-z]", token)
        ):
            continue
        blocks.append(f"the draft carries a long random-looking token ('{token[:8]}…'), possibly a secret")
    for match in _CPF.finditer(text):
        blocks.append(f"the draft carries a CPF number ('{match.group()[:7]}…')")
    for match in _CARD.finditer(text):
        if _luhn(match.group()):
            blocks.append("the draft carries a payment card number")
    for match in _OTHER_FAMILY.finditer(text):
        named = match.group("name")
        if not contact.name or fold(named) not in fold(contact.name):
            reviews.append(f"the draft mentions another family ('{match.group()}')")
    greeted = _greeted_name(text)
    if (
        greeted
        and contact.name
        and fold(greeted) not in {fold(part) for part in re.findall(r"[^\W\d_]+", contact.name)}
    ):
        reviews.append(f"the draft greets '{greeted}' but the contact is '{contact.name}'")
    if blocks:
        return Verdict.block(CHECK, "; ".join(blocks + reviews))
    if reviews:
        return Verdict.review(CHECK, "; ".join(reviews))
    return Verdict.passed(CHECK, f"no foreign personal data or secrets; {len(links)} link(s) to allowed domains")
