"""Contacts from a CSV file: a column mapping, per-row errors reported, good rows kept (pure parsing)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from nightcrew.errors import ValidationFailed
from nightcrew.events.schemas import ContactIn, format_errors

CORE = ("external_id", "name", "email", "phone", "language", "timezone", "location")


@dataclass(frozen=True)
class RowError:
    """Why one row was not imported."""

    row: int
    errors: list[dict[str, str]]


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """``["Email=email", "Child age=fields.child_age"]`` -> {CSV column: target}; targets are core or fields.*."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, sep, target = pair.partition("=")
        if not sep or not column.strip() or not target.strip():
            raise ValidationFailed(f"--map {pair!r}: write CSV_COLUMN=TARGET, e.g. Email=email or Age=fields.child_age")
        target = target.strip()
        if target not in CORE and not target.startswith("fields."):
            raise ValidationFailed(f"--map {pair!r}: target must be one of {', '.join(CORE)} or fields.<name>")
        mapping[column.strip()] = target
    if "external_id" not in mapping.values():
        raise ValidationFailed("the mapping must say which column is external_id (the contact's id in your CRM)")
    return mapping


def read_rows(
    data: bytes, mapping: Mapping[str, str], *, unmapped_as_fields: bool
) -> Iterator[tuple[int, dict[str, Any] | None, RowError | None]]:
    """Each data row as a validated contact dict, or the row's errors (row numbers count the header as 1)."""
    text = data.decode("utf-8-sig", errors="replace")
    dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t") if text.strip() else csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    missing = [column for column in mapping if column not in (reader.fieldnames or [])]
    if missing:
        raise ValidationFailed(
            f"columns not in the file: {', '.join(missing)}; it has {', '.join(reader.fieldnames or [])}"
        )
    for number, row in enumerate(reader, start=2):
        contact: dict[str, Any] = {"fields": {}}
        for column, value in row.items():
            if column is None:
                continue
            value = (value or "").strip()
            target = mapping.get(column)
            if target is None and unmapped_as_fields and value:
                contact["fields"][_field_name(column)] = value
            elif target is not None and value:
                if target.startswith("fields."):
                    contact["fields"][target.removeprefix("fields.")] = value
                else:
                    contact[target] = value
        try:
            validated = ContactIn.model_validate(contact)
        except ValidationError as exc:
            yield number, None, RowError(number, format_errors(exc))
            continue
        yield number, validated.model_dump(exclude_none=True), None


def _field_name(column: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in column.strip().lower()).strip("_")
    return cleaned[:64] or "field"
