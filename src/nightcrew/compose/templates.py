"""Render a message from the playbook's Jinja2 templates: no I/O beyond reading the template folder."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from nightcrew.errors import ConfigurationError
from nightcrew.guardrails.places import resolve_country
from nightcrew.guardrails.prices import PriceStyle, format_price
from nightcrew.playbook.schemas import Playbook


@dataclass(frozen=True)
class Draft:
    """A composed message before the guardrails have seen it."""

    text: str
    language: str
    template: str
    plan: str
    source: str = "template"
    model: str | None = None
    tier: str | None = None
    cost_usd: float = 0.0


def first_name(name: str | None) -> str:
    """The first word of a contact's name, as people address each other in a chat."""
    if not name:
        return ""
    word = name.strip().split()[0] if name.strip() else ""
    return word[:1].upper() + word[1:] if word else ""


class TemplateComposer:
    """Renders ``templates/<language>/<template>.j2`` in a sandbox; undefined variables are errors."""

    def __init__(self, playbook: Playbook) -> None:
        self.playbook = playbook
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(str(playbook.template_dir())),
            undefined=StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            keep_trailing_newline=False,
        )

    def template_path(self, language: str, template: str) -> Path:
        """Where a template lives on disk."""
        return self.playbook.template_dir() / language / f"{template}.j2"

    def context(
        self, contact: Mapping[str, Any], language: str, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Variables every template can use."""
        fields: dict[str, Any] = dict(contact.get("fields") or {})
        labels = self.playbook.labels

        def label(field: str, default: str = "") -> str:
            value = fields.get(field)
            if value is None:
                return default
            by_value = labels.get(field, {}).get(str(value), {})
            return by_value.get(language, default or str(value))  # type: ignore[call-overload, no-any-return]

        country = resolve_country(contact.get("location"), contact.get("phone"))

        def price(product_name: str) -> str:
            """The product's listed price for the contact's country, written as the guardrails read it."""
            product = self.playbook.prices.product(product_name)
            if product is None:
                raise ConfigurationError(f"template asks for the price of unknown product {product_name!r}")
            entry = product.prices_for(country)[0]
            if entry.amount == 0 or entry.currency is None:
                return {"es": "gratis", "pt": "grátis", "en": "free"}.get(language, "0")
            style: PriceStyle = "symbol_local" if entry.currency == "BRL" else "code"
            return format_price(entry.amount, entry.currency, style, language) or f"{entry.currency} {entry.amount}"

        business = self.playbook.business
        return {
            "business": {
                "name": business.name,
                "website": str(business.website),
                "booking_url": str(business.booking_url),
            },
            "first_name": first_name(contact.get("name")),
            "fields": _Fields(fields),
            "segment": contact.get("segment"),
            "stage": contact.get("stage"),
            "language": language,
            "signature": business.signature.get(language, business.name),  # type: ignore[call-overload]
            "facts": self.playbook.facts.get(language, []),  # type: ignore[call-overload]
            "label": label,
            "price": price,
            "country": country,
            **(extra or {}),
        }

    def _template_name(self, language: str, template: str, channel: str | None) -> str:
        """The channel's own version (``<template>.sms.j2``) when there is one, else the template."""
        if channel and (self.playbook.template_dir() / language / f"{template}.{channel}.j2").is_file():
            return f"{language}/{template}.{channel}.j2"
        return f"{language}/{template}.j2"

    def render(
        self,
        template: str,
        plan: str,
        language: str,
        contact: Mapping[str, Any],
        extra: Mapping[str, Any] | None = None,
        channel: str | None = None,
    ) -> Draft:
        """Compose the message text for one contact (the channel's own version of the template if any)."""
        try:
            jinja_template = self.env.get_template(self._template_name(language, template, channel))
            text = jinja_template.render(self.context(contact, language, extra))
        except TemplateNotFound as exc:
            raise ConfigurationError(
                f"template {language}/{template}.j2 not found in {self.playbook.template_dir()}"
            ) from exc
        except TemplateError as exc:
            raise ConfigurationError(f"template {language}/{template}.j2 failed to render: {exc}") from exc
        return Draft(text=_tidy(text), language=language, template=template, plan=plan)


class _Fields(dict[str, Any]):
    """Intake fields where a missing one reads as empty instead of failing the render."""

    def __getattr__(self, name: str) -> Any:
        return self.get(name)


def _tidy(text: str) -> str:
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.strip().splitlines()]
    return "\n".join(line for line in lines if line)
