"""From any CRM export to model inputs: CSV parsing, column type inference, derived features.

Every value goes through the same converters at training, evaluation and single-lead prediction, so a
lead scored live is read exactly the way the training file was.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from nightcrew.clock import ensure_utc
from nightcrew.errors import ValidationFailed
from nightcrew.intelligence.segments.schemas import MISSING, ColumnKind, ColumnSpec, DataSchema, SchemaIssue

NA_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a", "nil", "-", "?", "nat", "<na>"})
TRUE_TOKENS = frozenset({"yes", "y", "true", "t", "1", "1.0", "si", "sí", "s", "sim", "verdadero", "verdadeiro"})
FALSE_TOKENS = frozenset({"no", "n", "false", "f", "0", "0.0", "não", "nao", "falso"})
DELIMITERS = (",", ";", "\t", "|")
DATE_FORMATS = (
    "iso",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d-%m-%Y",
    "%d.%m.%Y",
    "%Y/%m/%d",
    "%d/%m/%y",
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

MIN_TRAINING_ROWS = 30
MIN_ROWS_PER_CLASS = 3
MAX_CLASSES = 30
MAX_STORED_CATEGORIES = 1000
_INFERENCE_SAMPLE = 5000
_PARSE_SHARE = 0.95
_ID_UNIQUE_SHARE = 0.98
_ID_MIN_ROWS = 20

_CURRENCY = re.compile(r"^(?:R\$|US\$|\$|€|£|MXN|COP|ARS|CLP|PEN|BRL|USD)\s*", re.IGNORECASE)
_DOT_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+)$")
_COMMA_NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+(?:,\d+)?)$")
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")


# ---------------------------------------------------------------------------------------------- CSV


def sniff_delimiter(text: str) -> str:
    """The delimiter (``,``, ``;``, tab or ``|``) that splits the first lines into a consistent column count."""
    lines = text[:65536].splitlines()[:50]
    if len(text) > 65536 and len(lines) > 1:
        lines = lines[:-1]  # the last line of a truncated sample may be cut mid-row
    best: tuple[float, int, int] = (0.0, 1, 0)
    choice = ","
    for rank, delimiter in enumerate(DELIMITERS):
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter) if row]
        if not counts:
            continue
        mode, hits = Counter(counts).most_common(1)[0]
        if mode < 2:
            continue
        score = (hits / len(counts), mode, -rank)
        if score > best:
            best, choice = score, delimiter
    return choice


def decode_csv_bytes(data: bytes) -> str:
    """Decode an export: UTF-8 (with or without BOM), else Windows-1252 as spreadsheets in Latin America write it."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def parse_crm_csv(data: bytes) -> pd.DataFrame:
    """Parse CSV bytes into a frame of raw strings; delimiter and encoding are detected."""
    text = decode_csv_bytes(data)
    if not text.strip():
        raise ValidationFailed("the CSV file is empty")
    delimiter = sniff_delimiter(text)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise ValidationFailed(f"could not parse the CSV file (delimiter {delimiter!r}): {exc}") from exc
    names = [str(name).strip() or f"column_{i + 1}" for i, name in enumerate(frame.columns)]
    frame.columns = pd.Index(names)
    blank = frame.apply(lambda column: column.str.strip().eq("")).all(axis=1)
    return frame.loc[~blank].reset_index(drop=True)


# --------------------------------------------------------------------------------------- converters


def is_missing(value: object) -> bool:
    """True for None, NaN, NaT, pd.NA and the usual spreadsheet spellings of 'nothing'."""
    if isinstance(value, str):
        return len(value) <= 5 and value.strip().casefold() in NA_TOKENS
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, np.floating):
        return bool(np.isnan(value))
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    return False


def parse_number(text: str, decimal_comma: bool) -> float | None:
    """Read ``12.5``, ``1,234.5``, ``12,5`` or ``R$ 1.200,00``; None when it is not a number."""
    cleaned = _CURRENCY.sub("", text.strip()).rstrip("%").strip().replace(" ", "").replace("\u00a0", "")
    if decimal_comma:
        if not _COMMA_NUMBER.match(cleaned):
            return None
        cleaned = cleaned.replace(".", "").replace(",", ".")
    else:
        if not _DOT_NUMBER.match(cleaned):
            return None
        cleaned = cleaned.replace(",", "")
    try:
        number = float(cleaned)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_bool(value: object) -> str | None:
    """Canonical ``yes``/``no`` for a boolean-looking value (yes/no, 1/0, true/false, sí/não, ...)."""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | float | np.integer | np.floating):
        if value == 1:
            return "yes"
        if value == 0:
            return "no"
        return None
    token = str(value).strip().casefold()
    if token in TRUE_TOKENS:
        return "yes"
    if token in FALSE_TOKENS:
        return "no"
    return None


def parse_date(value: object, date_format: str | None, *, iso_fallback: bool = True) -> datetime | None:
    """A UTC datetime from a datetime/date object or a string in ``date_format`` (``iso`` or strptime).

    With ``iso_fallback`` an unambiguous ISO string is accepted whatever the column's format, so a
    lead arriving through the API is read even when the training export wrote dates day-first.
    """
    if isinstance(value, datetime):  # includes pandas.Timestamp
        return ensure_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, np.datetime64):
        return ensure_utc(pd.Timestamp(value).to_pydatetime())
    text = str(value).strip()
    if not _DATE_LIKE.match(text):
        return None
    if date_format not in (None, "iso"):
        try:
            return ensure_utc(datetime.strptime(text, date_format))
        except ValueError:
            if not iso_fallback:
                return None
    try:
        return ensure_utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def normalize_category(value: object) -> str:
    """The category label for a value: trimmed, single-spaced, case-folded; numbers without ``.0``."""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return " ".join(str(value).split()).casefold()


def _display(value: object) -> str:
    return " ".join(str(value).split())


# ------------------------------------------------------------------------------------------ target


@dataclass(frozen=True)
class TargetInfo:
    """The target column read as class labels."""

    labels: list[str | None]
    classes: list[str]
    is_boolean: bool


def read_target(values: Sequence[object]) -> TargetInfo:
    """Class labels for a target column; yes/no, 1/0, true/false, sí/não in any case become ``yes``/``no``."""
    present = [v for v in values if not is_missing(v)]
    as_bool = [parse_bool(v) for v in present]
    if present and all(b is not None for b in as_bool) and len(set(as_bool)) <= 2:
        labels = [None if is_missing(v) else parse_bool(v) for v in values]
        return TargetInfo(labels=labels, classes=["no", "yes"], is_boolean=True)
    labels = [None if is_missing(v) else _label(v) for v in values]
    classes = sorted({label for label in labels if label is not None})
    return TargetInfo(labels=labels, classes=classes, is_boolean=False)


def _label(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return " ".join(str(value).split())


def labels_for_schema(schema: DataSchema, values: Sequence[object]) -> list[str | None]:
    """Read a target column with the training schema's conventions; unknown labels are kept as-is."""
    if schema.target_is_boolean:
        return [None if is_missing(v) else (parse_bool(v) or _label(v)) for v in values]
    return [None if is_missing(v) else _label(v) for v in values]


# --------------------------------------------------------------------------------------- inference


@dataclass(frozen=True)
class InferredData:
    """The schema inferred from a training frame, the target labels, and why columns were left out."""

    schema: DataSchema
    labels: list[str | None]
    excluded_reasons: dict[str, str]


def resolve_column(frame: pd.DataFrame, name: str, role: str) -> str:
    """The frame's column called ``name`` (exact, else ignoring case and spaces), or a clear error."""
    if name in frame.columns:
        return name
    wanted = name.strip().casefold()
    matches = [c for c in frame.columns if str(c).strip().casefold() == wanted]
    if len(matches) == 1:
        return str(matches[0])
    raise ValidationFailed(
        f"the {role} column {name!r} is not in the file; its columns are: {', '.join(map(str, frame.columns))}",
        details={"column": name, "columns": [str(c) for c in frame.columns]},
    )


def infer_schema(
    frame: pd.DataFrame,
    target: str,
    *,
    drop: Sequence[str] = (),
    id_column: str | None = None,
    reference_time: datetime,
    positive_class: str | None = None,
) -> InferredData:
    """Infer each column's type, read the target, and decide which columns the model may use."""
    target = resolve_column(frame, target, "target")
    excluded: dict[str, str] = {}
    for name in drop:
        excluded[resolve_column(frame, name, "--drop")] = "dropped"
    if id_column is not None:
        excluded[resolve_column(frame, id_column, "id")] = "id_column"
    info = read_target(frame[target].tolist())
    _check_target(info)
    classes = info.classes
    positive = _positive_class(info, positive_class)
    n_labelled = sum(label is not None for label in info.labels)

    specs: list[ColumnSpec] = []
    for name in frame.columns:
        name = str(name)
        if name == target or name in excluded:
            continue
        spec, reason = infer_column(name, frame[name])
        if reason is not None:
            excluded[name] = reason
        elif spec is not None:
            specs.append(spec)
    schema = DataSchema(
        target=target,
        classes=classes,
        positive_class=positive,
        target_is_boolean=info.is_boolean,
        columns=specs,
        excluded=excluded,
        id_column=id_column,
        reference_time=ensure_utc(reference_time),
        n_rows=n_labelled,
    )
    return InferredData(schema=schema, labels=info.labels, excluded_reasons=dict(excluded))


def _check_target(info: TargetInfo) -> None:
    counts = Counter(label for label in info.labels if label is not None)
    n = sum(counts.values())
    if n < MIN_TRAINING_ROWS:
        raise ValidationFailed(f"only {n} rows have a target value; at least {MIN_TRAINING_ROWS} are needed")
    if len(counts) < 2:
        raise ValidationFailed(f"the target has a single class ({next(iter(counts), 'none')!r}): nothing to learn")
    if len(counts) > MAX_CLASSES or (len(counts) > 10 and len(counts) > 0.2 * n):
        raise ValidationFailed(
            f"the target has {len(counts)} distinct values: it looks continuous or like an ID, not classes"
        )
    scarce = {c: k for c, k in counts.items() if k < MIN_ROWS_PER_CLASS}
    if scarce:
        raise ValidationFailed(
            f"classes with fewer than {MIN_ROWS_PER_CLASS} rows cannot be cross-validated: {scarce}; "
            "merge them or remove those rows",
            details={"class_counts": dict(counts)},
        )


def _positive_class(info: TargetInfo, requested: str | None) -> str | None:
    if len(info.classes) != 2:
        if requested is not None:
            raise ValidationFailed("a positive class only makes sense for a binary target")
        return None
    if requested is not None:
        wanted = (parse_bool(requested) if info.is_boolean else None) or _label(requested)
        if wanted not in info.classes:
            raise ValidationFailed(f"positive class {requested!r} is not one of {info.classes}")
        return wanted
    if info.is_boolean:
        return "yes"
    counts = Counter(label for label in info.labels if label is not None)
    # The event a business predicts (won, enrolled, churned) is nearly always the rarer outcome.
    return min(info.classes, key=lambda c: (counts[c], c == info.classes[0]))


def infer_column(name: str, series: pd.Series) -> tuple[ColumnSpec | None, str | None]:
    """Infer one column's kind; returns (spec, None) or (None, reason it is excluded)."""
    n_rows = len(series)
    if pd.api.types.is_bool_dtype(series.dtype):
        return _finish(name, "boolean", series.tolist(), n_rows)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return _finish(name, "date", series.tolist(), n_rows, date_format="iso")
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=float, na_value=np.nan)
        present = values[~np.isnan(values)]
        uniques = set(np.unique(present).tolist())
        kind: ColumnKind = "boolean" if uniques == {0.0, 1.0} else "numeric"
        return _finish(name, kind, series.tolist(), n_rows)

    raw = series.tolist()
    present = [str(v).strip() for v in raw if not is_missing(v)]
    if not present:
        return None, "constant"
    step = max(1, len(present) // _INFERENCE_SAMPLE)
    sample = present[::step]
    bools = {parse_bool(v) for v in sample}
    if None not in bools and len(bools) <= 2:
        return _finish(name, "boolean", raw, n_rows)
    dot = sum(parse_number(v, False) is not None for v in sample)
    comma = sum(parse_number(v, True) is not None for v in sample)
    if max(dot, comma) >= _PARSE_SHARE * len(sample):
        return _finish(name, "numeric", raw, n_rows, decimal_comma=comma > dot)
    date_format = _date_format(sample)
    if date_format is not None:
        return _finish(name, "date", raw, n_rows, date_format=date_format)
    if _looks_like_text(sample):
        return _finish(name, "text", raw, n_rows)
    return _finish(name, "categorical", raw, n_rows)


def _date_format(sample: list[str]) -> str | None:
    if sum(bool(_DATE_LIKE.match(v)) for v in sample) < _PARSE_SHARE * len(sample):
        return None
    best, best_hits = None, 0
    for fmt in DATE_FORMATS:  # ordered: on a tie, ISO then day-first (the Latin American habit) wins
        hits = sum(parse_date(v, fmt, iso_fallback=False) is not None for v in sample)
        if hits > best_hits:
            best, best_hits = fmt, hits
    return best if best_hits >= _PARSE_SHARE * len(sample) else None


def _looks_like_text(sample: list[str]) -> bool:
    distinct = len(set(sample))
    mean_words = sum(len(v.split()) for v in sample) / len(sample)
    if mean_words < 3 or (distinct < 0.3 * len(sample) and distinct < 100):
        return False
    # Free text shares words across rows; a column of unique codes with spaces (addresses, names) does not.
    tokens = Counter(token for v in sample for token in set(re.findall(r"\w\w+", v.casefold())))
    return sum(1 for count in tokens.values() if count >= 2) >= 10


def _finish(
    name: str,
    kind: ColumnKind,
    raw: list[Any],
    n_rows: int,
    *,
    decimal_comma: bool = False,
    date_format: str | None = None,
) -> tuple[ColumnSpec | None, str | None]:
    spec = ColumnSpec(name=name, kind=kind, missing_share=0.0, n_unique=0, decimal_comma=decimal_comma)
    spec = spec.model_copy(update={"date_format": date_format})
    converted = _convert_column(spec, raw, None)
    present = [v for v in converted if v is not None]
    missing_share = 1.0 - len(present) / n_rows if n_rows else 1.0
    update: dict[str, Any] = {"missing_share": round(missing_share, 6)}
    if kind in ("numeric",):
        numbers = np.asarray(present, dtype=float)
        unique = np.unique(numbers)
        update["n_unique"] = int(unique.size)
        if unique.size <= 1:
            return None, "constant"
        integral = bool(np.all(np.mod(numbers, 1.0) == 0.0))
        if integral and unique.size == numbers.size and numbers.size >= _ID_MIN_ROWS:
            return None, "id_like"
        update["reference"] = float(np.median(numbers))
    elif kind == "date":
        stamps = sorted(present)
        update["n_unique"] = len(set(stamps))
        if update["n_unique"] <= 1:
            return None, "constant"
        update["has_time"] = any((s.hour, s.minute, s.second) != (0, 0, 0) for s in stamps)
        update["reference"] = stamps[len(stamps) // 2].strftime("%Y-%m-%d %H:%M")
    else:
        counts = Counter(str(v) for v in present)
        update["n_unique"] = len(counts)
        if len(counts) <= 1:
            return None, "constant"
        if kind == "categorical" and len(present) >= _ID_MIN_ROWS and len(counts) >= _ID_UNIQUE_SHARE * len(present):
            return None, "id_like"
        if kind in ("categorical", "boolean"):
            ordered = [c for c, _ in counts.most_common()]
            update["categories"] = ordered[:MAX_STORED_CATEGORIES]
            update["categories_truncated"] = len(ordered) > MAX_STORED_CATEGORIES
            update["reference"] = ordered[0]
    return spec.model_copy(update=update), None


# ------------------------------------------------------------------------------- derived features


@dataclass(frozen=True)
class Layout:
    """The derived columns the encoders see, and which input field each comes from."""

    numeric: list[str]
    categorical: list[str]
    text: list[str]
    owner: dict[str, str]


def layout_for(schema: DataSchema) -> Layout:
    """Derived column names for a schema (dates add age/month/weekday, text adds length counts)."""
    numeric: list[str] = []
    categorical: list[str] = []
    text: list[str] = []
    owner: dict[str, str] = {}

    def add(bucket: list[str], derived: str, field_name: str) -> None:
        bucket.append(derived)
        owner[derived] = field_name

    for spec in schema.columns:
        if spec.kind == "numeric":
            add(numeric, spec.name, spec.name)
        elif spec.kind in ("categorical", "boolean"):
            add(categorical, spec.name, spec.name)
        elif spec.kind == "text":
            add(text, spec.name, spec.name)
            add(numeric, f"{spec.name}__chars", spec.name)
            add(numeric, f"{spec.name}__words", spec.name)
        else:
            add(numeric, f"{spec.name}__age_days", spec.name)
            if spec.has_time:
                add(numeric, f"{spec.name}__hour", spec.name)
            add(categorical, f"{spec.name}__month", spec.name)
            add(categorical, f"{spec.name}__weekday", spec.name)
    return Layout(numeric=numeric, categorical=categorical, text=text, owner=owner)


@dataclass
class Prepared:
    """Derived columns for a batch of rows, ready for the encoders."""

    n_rows: int
    numeric: dict[str, np.ndarray]
    categorical: dict[str, list[str]]
    text: dict[str, list[str]]
    #: Text columns split into terms, filled in once by the encoder and shared by every subset.
    tokens: dict[str, list[list[str]]] = field(default_factory=dict)

    def take(self, rows: np.ndarray) -> Prepared:
        """The subset of rows selected by a boolean mask or an index array."""
        index = np.flatnonzero(rows) if rows.dtype == bool else np.asarray(rows)
        return Prepared(
            n_rows=int(index.size),
            numeric={k: v[index] for k, v in self.numeric.items()},
            categorical={k: [v[i] for i in index] for k, v in self.categorical.items()},
            text={k: [v[i] for i in index] for k, v in self.text.items()},
            tokens={k: [v[i] for i in index] for k, v in self.tokens.items()},
        )


@dataclass
class IssueLog:
    """Collects what did not fit the schema while a file is read (reported, never a crash)."""

    unparseable: dict[str, list[str]] = field(default_factory=dict)
    unknown: dict[str, Counter[str]] = field(default_factory=dict)

    def issues(self) -> list[SchemaIssue]:
        """The collected problems as schema issues."""
        out: list[SchemaIssue] = []
        for column, values in self.unparseable.items():
            out.append(
                SchemaIssue(
                    kind="unparseable_values",
                    column=column,
                    count=len(values),
                    examples=sorted(set(values))[:5],
                    detail=f"{len(values)} value(s) could not be read as this column's type; treated as missing",
                )
            )
        for column, counter in self.unknown.items():
            total = sum(counter.values())
            out.append(
                SchemaIssue(
                    kind="unknown_categories",
                    column=column,
                    count=total,
                    examples=[c for c, _ in counter.most_common(5)],
                    detail=f"{total} row(s) hold {len(counter)} categor(y/ies) never seen in training; "
                    "scored like a rare category",
                )
            )
        return out


def _convert_column(spec: ColumnSpec, raw: Sequence[Any], log: IssueLog | None) -> list[Any]:
    """Convert raw values to the spec's kind: float, 'yes'/'no', category, datetime or text; None = missing."""
    out: list[Any] = []
    bad: list[str] = []
    known = set(spec.categories) if spec.kind == "categorical" and not spec.categories_truncated else None
    unknown: Counter[str] = Counter()
    for value in raw:
        if is_missing(value):
            out.append(None)
            continue
        converted: Any
        if spec.kind == "numeric":
            if isinstance(value, bool | int | float | np.bool_ | np.integer | np.floating):
                converted = float(value)
            else:
                converted = parse_number(str(value), spec.decimal_comma)
        elif spec.kind == "boolean":
            converted = parse_bool(value)
        elif spec.kind == "date":
            converted = parse_date(value, spec.date_format)
        elif spec.kind == "text":
            converted = " ".join(str(value).split())
        else:
            converted = normalize_category(value)
            if known is not None and converted not in known:
                unknown[converted] += 1
        if converted is None:
            bad.append(_display(value)[:40])
        out.append(converted)
    if log is not None:
        if bad:
            log.unparseable.setdefault(spec.name, []).extend(bad)
        if unknown and known:
            log.unknown.setdefault(spec.name, Counter()).update(unknown)
    return out


def prepare(
    schema: DataSchema,
    columns: Mapping[str, Sequence[Any]],
    n_rows: int,
    log: IssueLog | None = None,
) -> Prepared:
    """Derive the encoder inputs from raw columns; a column absent from ``columns`` is all missing."""
    numeric: dict[str, np.ndarray] = {}
    categorical: dict[str, list[str]] = {}
    text: dict[str, list[str]] = {}
    reference = schema.reference_time
    for spec in schema.columns:
        raw = columns.get(spec.name)
        if raw is None:
            raw = [None] * n_rows
        if spec.kind == "numeric" and isinstance(raw, np.ndarray) and raw.dtype.kind in "fiu":
            numeric[spec.name] = raw.astype(float)
            continue
        values = _convert_column(spec, raw, log)
        if spec.kind == "numeric":
            numeric[spec.name] = np.array([np.nan if v is None else v for v in values], dtype=float)
        elif spec.kind in ("categorical", "boolean"):
            categorical[spec.name] = [MISSING if v is None else v for v in values]
        elif spec.kind == "text":
            texts = ["" if v is None else v for v in values]
            text[spec.name] = texts
            numeric[f"{spec.name}__chars"] = np.array([len(t) for t in texts], dtype=float)
            numeric[f"{spec.name}__words"] = np.array([len(t.split()) for t in texts], dtype=float)
        else:
            nan = float("nan")
            numeric[f"{spec.name}__age_days"] = np.array(
                [nan if v is None else (reference - v).total_seconds() / 86400.0 for v in values], dtype=float
            )
            if spec.has_time:
                numeric[f"{spec.name}__hour"] = np.array(
                    [nan if v is None else v.hour + v.minute / 60.0 for v in values], dtype=float
                )
            categorical[f"{spec.name}__month"] = [MISSING if v is None else f"{v.month:02d}" for v in values]
            categorical[f"{spec.name}__weekday"] = [MISSING if v is None else WEEKDAYS[v.weekday()] for v in values]
    return Prepared(n_rows=n_rows, numeric=numeric, categorical=categorical, text=text)


def frame_columns(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, Sequence[Any]]:
    """Columns of ``frame`` for :func:`prepare`; numeric columns stay numpy arrays (the fast path)."""
    out: dict[str, Sequence[Any]] = {}
    for name in names:
        if name not in frame.columns:
            continue
        series = frame[name]
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
            out[name] = series.to_numpy(dtype=float, na_value=np.nan)
        else:
            out[name] = series.tolist()
    return out


def records_columns(records: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    """Columns for :func:`prepare` from a list of dict records (a key absent from a record is missing)."""
    return {name: [record.get(name) for record in records] for name in names}
