"""Field mapping: which CRM field becomes which contact or intake field, converted and validated per record.

The playbook's ``crm:`` section holds one ``CrmMapping`` per CRM. ``map_record`` turns one CRM contact into
a contact nightcrew can store, or into a ``RecordError`` naming every bad field, so one bad record is set
aside while the rest of an import goes on. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

import phonenumbers
from pydantic import Field, ValidationError, field_validator, model_validator

from nightcrew.crm.connectors.base import CrmContact, CrmName, epoch_ms, parse_instant
from nightcrew.events.schemas import ContactIn, format_errors
from nightcrew.guardrails.policy import StrictModel

Scalar = str | int | float | bool | None
FieldType = Literal["str", "int", "float", "bool", "date", "datetime", "enum", "language", "phone"]
CORE_TARGETS = ("name", "email", "phone", "language", "timezone", "location")
DEFAULT_ID_PREFIX: dict[str, str] = {"hubspot": "hubspot:", "gohighlevel": "ghl:"}

_STAGE = r"^[a-z][a-z0-9_]*$"
_INTAKE_TARGET = re.compile(r"^fields\.[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_TRUE = frozenset({"true", "yes", "y", "1", "si", "sí", "sim", "on", "checked", "x"})
_FALSE = frozenset({"false", "no", "n", "0", "não", "nao", "off", "unchecked"})
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._:@/+=-]")


class FieldMap(StrictModel):
    """One CRM field (or several, joined) to one contact core field or intake field."""

    source: str | list[str] = Field(description="CRM field name; a list is joined with `join` (first + last name)")
    target: str = Field(description="name, email, phone, language, timezone, location, or fields.<intake_key>")
    type: FieldType = "str"
    join: str = " "
    values: dict[str, Scalar] = Field(default_factory=dict, description="enum: CRM value -> nightcrew value")
    default: Scalar = None
    required: bool = False
    date_format: str | None = Field(default=None, description="strptime format when the CRM does not use ISO dates")
    region: str | None = Field(default=None, description="phone: country assumed for numbers without +code")

    @field_validator("source")
    @classmethod
    def _sources(cls, value: str | list[str]) -> str | list[str]:
        names = [value] if isinstance(value, str) else value
        if not names or any(not name.strip() for name in names):
            raise ValueError("source must name at least one CRM field")
        return value

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        if value not in CORE_TARGETS and not _INTAKE_TARGET.match(value):
            raise ValueError(f"target must be one of {', '.join(CORE_TARGETS)} or fields.<intake_key>, not {value!r}")
        return value

    @model_validator(mode="after")
    def _enum_has_values(self) -> FieldMap:
        if self.type == "enum" and not self.values:
            raise ValueError(f"{self.target}: an enum mapping needs `values` (CRM value -> nightcrew value)")
        if self.region is not None and self.type != "phone":
            raise ValueError(f"{self.target}: `region` only applies to type phone")
        return self

    def sources(self) -> list[str]:
        """The CRM field names read."""
        return [self.source] if isinstance(self.source, str) else list(self.source)

    def label(self) -> str:
        """How errors name this mapping: ``crm_field -> target``."""
        return f"{'+'.join(self.sources())} -> {self.target}"


class StageMap(StrictModel):
    """Pipeline stages both ways: nightcrew stage <-> CRM lifecycle stage, deal stage or opportunity stage id."""

    object: Literal["contact", "deal", "opportunity"] = "contact"
    property: str = "lifecyclestage"
    pipeline_id: str | None = None
    to_crm: dict[str, str] = Field(default_factory=dict)
    from_crm: dict[str, str] = Field(default_factory=dict)
    create_missing: bool = False

    @model_validator(mode="after")
    def _names(self) -> StageMap:
        for name in (*self.to_crm, *self.from_crm.values()):
            if not re.match(_STAGE, name):
                raise ValueError(f"stage {name!r} is not a nightcrew stage name (lowercase, digits, _)")
        if self.create_missing and self.pipeline_id is None:
            raise ValueError("create_missing needs pipeline_id")
        return self

    def crm_value(self, stage: str) -> str | None:
        """The CRM's value for a nightcrew stage, or None when the stage is not mapped."""
        return self.to_crm.get(stage)

    def our_stage(self, crm_value: str | None) -> str | None:
        """The nightcrew stage for a CRM value (explicit ``from_crm`` first, then the inverse of ``to_crm``)."""
        if crm_value is None:
            return None
        if crm_value in self.from_crm:
            return self.from_crm[crm_value]
        for ours, theirs in self.to_crm.items():
            if theirs == crm_value:
                return ours
        return None


class SegmentWriteBack(StrictModel):
    """Where the segment goes: a custom property (HubSpot) or a tag with a prefix (GoHighLevel)."""

    property: str | None = "nightcrew_segment"
    tag_prefix: str = Field(default="nightcrew-segment:", min_length=1)


class CrmMapping(StrictModel):
    """Everything about one CRM for one tenant: fields in, stages both ways, segment/owner/notes out."""

    id_prefix: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,40}$")
    fields: list[FieldMap] = Field(default_factory=list)
    stages: StageMap = Field(default_factory=StageMap)
    segment: SegmentWriteBack = Field(default_factory=SegmentWriteBack)
    owners: dict[str, str] = Field(default_factory=dict, description="nightcrew team -> CRM owner/user id")
    owner_property: str = "hubspot_owner_id"
    dedupe_notes: bool = True

    @model_validator(mode="after")
    def _one_mapping_per_target(self) -> CrmMapping:
        targets = [f.target for f in self.fields]
        repeated = sorted({t for t in targets if targets.count(t) > 1})
        if repeated:
            raise ValueError(f"each target may be mapped once; repeated: {', '.join(repeated)}")
        return self

    def source_fields(self) -> list[str]:
        """Every CRM field the mapping reads (what to ask the CRM API for)."""
        names: list[str] = []
        for mapping in self.fields:
            names.extend(n for n in mapping.sources() if n not in names)
        return names


class CrmSettings(StrictModel):
    """The playbook's ``crm:`` section."""

    hubspot: CrmMapping | None = None
    gohighlevel: CrmMapping | None = None

    def for_crm(self, crm: CrmName) -> CrmMapping:
        """The mapping for ``crm`` (an empty default when the playbook has none)."""
        found = self.hubspot if crm == "hubspot" else self.gohighlevel
        return found or CrmMapping()

    def unknown_stages(self, stage_names: set[str]) -> list[str]:
        """Stage names used in the mappings that are not stages of the playbook."""
        used: set[str] = set()
        for mapping in (self.hubspot, self.gohighlevel):
            if mapping is not None:
                used.update(mapping.stages.to_crm, mapping.stages.from_crm.values())
        return sorted(used - stage_names)


@dataclass(frozen=True)
class FieldError:
    """One field of one record that could not be mapped."""

    field: str
    reason: str


@dataclass(frozen=True)
class RecordError:
    """A record kept aside, with every reason."""

    crm: str
    record_id: str
    errors: tuple[FieldError, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the import report."""
        return {
            "crm": self.crm,
            "record_id": self.record_id,
            "errors": [{"field": e.field, "reason": e.reason} for e in self.errors],
        }


@dataclass(frozen=True)
class MappedContact:
    """A CRM contact in nightcrew's shape (``contact`` validates as ``ContactIn``)."""

    crm: str
    crm_id: str
    external_id: str
    contact: dict[str, Any]
    stage: str | None
    created_at: datetime | None
    updated_at: datetime | None


def external_id(crm: str, crm_id: str, mapping: CrmMapping) -> str:
    """The contact's nightcrew external id for a CRM id (``hubspot:123``)."""
    prefix = mapping.id_prefix if mapping.id_prefix is not None else DEFAULT_ID_PREFIX.get(crm, f"{crm}:")
    return f"{prefix}{crm_id}"


def crm_id_from_external(crm: str, external: str, mapping: CrmMapping) -> str | None:
    """The CRM id inside a nightcrew external id, or None if the contact did not come from that CRM."""
    prefix = mapping.id_prefix if mapping.id_prefix is not None else DEFAULT_ID_PREFIX.get(crm, f"{crm}:")
    return external[len(prefix) :] if external.startswith(prefix) and len(external) > len(prefix) else None


def contact_event_id(crm: str, crm_id: str, updated_at: datetime | None) -> str:
    """Deterministic event id for a contact version: the same version imported twice is one event."""
    version = str(epoch_ms(updated_at)) if updated_at is not None else "0"
    return f"{crm}-contact-{_UNSAFE_ID.sub('_', crm_id)}-{version}"[:200]


def map_record(record: CrmContact, mapping: CrmMapping) -> MappedContact | RecordError:
    """Map one CRM record; every failing field is reported, none silently dropped."""
    errors: list[FieldError] = []
    contact: dict[str, Any] = {"external_id": external_id(record.crm, record.id, mapping)}
    intake: dict[str, Scalar] = {}
    labels: dict[str, str] = {}
    for field_map in mapping.fields:
        label = field_map.label()
        labels[field_map.target] = label
        raw = _read(record.fields, field_map)
        if _empty(raw):
            if field_map.default is not None:
                value: Scalar = field_map.default
            elif field_map.required:
                errors.append(FieldError(label, "required, but the CRM record has no value"))
                continue
            else:
                continue
        else:
            try:
                value = convert(raw, field_map)
            except ValueError as exc:
                errors.append(FieldError(label, str(exc)))
                continue
        if value is None:
            continue
        if field_map.target.startswith("fields."):
            intake[field_map.target.removeprefix("fields.")] = value
        else:
            contact[field_map.target] = value
    if intake:
        contact["fields"] = intake
    try:
        validated = ContactIn.model_validate(contact)
    except ValidationError as exc:
        for item in format_errors(exc):
            errors.append(FieldError(labels.get(item["field"], item["field"]), item["reason"]))
    if errors:
        return RecordError(crm=record.crm, record_id=record.id, errors=tuple(errors))
    stage = None
    if mapping.stages.object == "contact":
        crm_stage = record.fields.get(mapping.stages.property)
        stage = mapping.stages.our_stage(str(crm_stage)) if crm_stage not in (None, "") else None
    return MappedContact(
        crm=record.crm,
        crm_id=record.id,
        external_id=validated.external_id,
        contact=validated.model_dump(mode="json", exclude_none=True, exclude_defaults=False),
        stage=stage,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def lead_created_event(mapped: MappedContact, *, source: str, fallback_time: datetime) -> dict[str, Any]:
    """The lead.created event dict for a mapped contact, with an id stable across re-imports."""
    occurred = mapped.updated_at or mapped.created_at or fallback_time
    data: dict[str, Any] = {"source": source}
    if mapped.stage is not None:
        data["stage"] = mapped.stage
    contact = dict(mapped.contact)
    if not contact.get("fields"):
        contact.pop("fields", None)
    return {
        "id": contact_event_id(mapped.crm, mapped.crm_id, mapped.updated_at or mapped.created_at),
        "type": "lead.created",
        "occurred_at": occurred.astimezone(UTC).isoformat(),
        "contact": contact,
        "data": data,
    }


def convert(raw: Any, field_map: FieldMap) -> Scalar:
    """Convert one raw CRM value to the mapping's type, or raise ValueError saying why not."""
    kind = field_map.type
    if kind == "str":
        return _as_text(raw)
    if kind == "int":
        return _as_int(raw)
    if kind == "float":
        return _as_float(raw)
    if kind == "bool":
        return _as_bool(raw)
    if kind == "date":
        return _as_date(raw, field_map.date_format)
    if kind == "datetime":
        return _as_datetime(raw, field_map.date_format)
    if kind == "enum":
        return _as_enum(raw, field_map.values)
    if kind == "language":
        return _as_language(raw)
    return _as_phone(raw, field_map.region)


def _read(fields: Mapping[str, Any], field_map: FieldMap) -> Any:
    sources = field_map.sources()
    if len(sources) == 1:
        return fields.get(sources[0])
    parts = [_as_text(fields[name]) for name in sources if not _empty(fields.get(name))]
    return field_map.join.join(parts) if parts else None


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple | dict) and not value


def _as_text(raw: Any) -> str:
    if isinstance(raw, list | tuple):
        return ", ".join(_as_text(item) for item in raw)
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip()


def _as_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"expected a whole number, got {raw!r}")
    if isinstance(raw, int):
        return raw
    try:
        number = _as_float(raw)
    except ValueError:
        raise ValueError(f"expected a whole number, got {raw!r}") from None
    if not number.is_integer():
        raise ValueError(f"expected a whole number, got {raw!r}")
    return int(number)


def _as_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"expected a number, got {raw!r}")
    if isinstance(raw, int | float):
        return float(raw)
    text = str(raw).strip()
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")  # decimal comma, as Spanish and Portuguese forms write it
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {raw!r}") from None


def _as_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw)
    text = str(raw).strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected yes/no (true, false, sí, não, 1, 0 ...), got {raw!r}")


def _as_datetime_value(raw: Any, date_format: str | None) -> datetime:
    if isinstance(raw, datetime):
        return raw if raw.tzinfo is not None else raw.replace(tzinfo=UTC)
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day, tzinfo=UTC)
    if date_format is not None:
        try:
            parsed = datetime.strptime(str(raw).strip(), date_format)
        except ValueError:
            raise ValueError(f"expected a date like {date_format!r}, got {raw!r}") from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
    instant = parse_instant(raw)
    if instant is None:
        raise ValueError(f"expected an ISO date or epoch milliseconds, got {raw!r}")
    return instant


def _as_date(raw: Any, date_format: str | None) -> str:
    return _as_datetime_value(raw, date_format).date().isoformat()


def _as_datetime(raw: Any, date_format: str | None) -> str:
    return _as_datetime_value(raw, date_format).astimezone(UTC).isoformat()


def _as_enum(raw: Any, values: Mapping[str, Scalar]) -> Scalar:
    text = _as_text(raw)
    if text in values:
        return values[text]
    folded = text.casefold()
    for key, value in values.items():
        if key.strip().casefold() == folded:
            return value
    if "*" in values:
        return values["*"]
    known = ", ".join(repr(k) for k in values)
    raise ValueError(f"{text!r} is not one of {known}")


def _as_language(raw: Any) -> str:
    # CRMs store locales (pt-BR, es_MX, EN); nightcrew speaks in ISO 639-1 codes.
    primary = re.split(r"[-_]", _as_text(raw))[0].lower()
    if not re.fullmatch(r"[a-z]{2}", primary):
        raise ValueError(f"expected a language code like es or pt-BR, got {raw!r}")
    return primary


def _as_phone(raw: Any, region: str | None) -> str:
    text = _as_text(raw)
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException:
        hint = "" if region else " (set `region` for numbers written without +country code)"
        raise ValueError(f"not a phone number: {raw!r}{hint}") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"not a possible phone number: {raw!r}")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
