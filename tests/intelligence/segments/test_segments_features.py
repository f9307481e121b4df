"""Reading unseen CRM exports: delimiter, encoding, column types, target spellings, derived features."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from nightcrew.errors import ValidationFailed
from nightcrew.intelligence.segments import parse_crm_csv, train_segment_model
from nightcrew.intelligence.segments.features import (
    infer_schema,
    parse_date,
    parse_number,
    prepare,
    read_target,
    records_columns,
    sniff_delimiter,
)

REFERENCE = datetime(2025, 6, 1, tzinfo=UTC)
NOTES = [
    "Quiere el precio del plan anual para su empresa",
    "Pregunta por descuento para el plan mensual",
    "Pide una demo del producto para su equipo de ventas",
    "Necesita factura para el plan anual de la empresa",
    "Consulta por soporte en español para su equipo",
    "Quiere saber si el plan incluye soporte y demo",
]


def unseen_export(n: int = 80) -> bytes:
    """A ';'-separated export with decimal commas, day-first dates, Sí/No, free text, an ID and a constant."""
    rng = np.random.default_rng(5)
    lines = ["Cliente ID;Monto;Canal;Fecha alta;Nota;Activo;Pais;Compró"]
    for i in range(n):
        amount = f"{rng.integers(1, 9)}.{rng.integers(100, 999)},{rng.integers(10, 99)}"
        channel = ["WhatsApp", "email", "Teléfono"][i % 3]
        day = f"{(i % 28) + 1:02d}/{(i % 12) + 1:02d}/2024"
        note = f"{NOTES[i % len(NOTES)]} para {rng.integers(2, 60)} usuarios" + (" urgente" if i % 4 == 0 else "")
        active = ["Sí", "No", "si", "NO"][i % 4]
        bought = "Sí" if (i % 3 == 0 or i % 5 == 0) else "No"
        missing_amount = i % 17 == 0
        lines.append(f"C-{i:04d};{'' if missing_amount else amount};{channel};{day};{note};{active};MX;{bought}")
    return "\n".join(lines).encode("utf-8")


def test_sniffs_semicolon_even_with_decimal_commas() -> None:
    assert sniff_delimiter("a;b;c\n1,5;2;x\n3,25;4;y\n") == ";"
    assert sniff_delimiter('a,b,c\n"1,5",2,x\n3,4,"y;z"\n') == ","
    assert sniff_delimiter("a\tb\n1\t2\n") == "\t"


def test_infers_types_on_an_unseen_semicolon_export() -> None:
    frame = parse_crm_csv(unseen_export())
    inferred = infer_schema(frame, "Compró", reference_time=REFERENCE)
    kinds = {spec.name: spec.kind for spec in inferred.schema.columns}
    assert kinds == {
        "Monto": "numeric",
        "Canal": "categorical",
        "Fecha alta": "date",
        "Nota": "text",
        "Activo": "boolean",
    }
    assert inferred.schema.column("Monto").decimal_comma
    assert inferred.schema.column("Fecha alta").date_format == "%d/%m/%Y"
    assert inferred.schema.excluded == {"Cliente ID": "id_like", "Pais": "constant"}
    assert inferred.schema.classes == ["no", "yes"]
    assert inferred.schema.positive_class == "yes"
    assert inferred.schema.target_is_boolean
    assert 0.0 < inferred.schema.column("Monto").missing_share < 0.1


def test_trains_on_the_unseen_export_and_reports_excluded_columns() -> None:
    frame = parse_crm_csv(unseen_export(120))
    result = train_segment_model(frame, "compró", reference_time=REFERENCE, n_splits=3)
    assert result.schema.target == "Compró"  # matched ignoring case
    codes = {(w.code, w.column) for w in result.metrics.warnings}
    assert ("id_like", "Cliente ID") in codes
    assert ("constant", "Pais") in codes
    assert ("small_dataset", None) in codes


def test_numbers_in_latin_american_and_english_notation() -> None:
    assert parse_number("1.234,50", decimal_comma=True) == 1234.5
    assert parse_number("R$ 99,90", decimal_comma=True) == 99.9
    assert parse_number("1,234.50", decimal_comma=False) == 1234.5
    assert parse_number("12.5%", decimal_comma=False) == 12.5
    assert parse_number("twelve", decimal_comma=False) is None


def test_dates_fall_back_to_iso_whatever_the_column_format() -> None:
    assert parse_date("03/02/2025", "%d/%m/%Y") == datetime(2025, 2, 3, tzinfo=UTC)
    assert parse_date("2025-02-03T10:00:00Z", "%d/%m/%Y") == datetime(2025, 2, 3, 10, tzinfo=UTC)
    assert parse_date("2025-02-03", "%d/%m/%Y", iso_fallback=False) is None


@pytest.mark.parametrize(
    "values",
    [["Yes", "no", "YES"], ["1", "0", "1"], ["TRUE", "false", "True"], ["Sí", "NO", "si"], ["sim", "Não", "nao"]],
)
def test_boolean_target_spellings(values: list[str]) -> None:
    info = read_target([*values, None])
    assert info.is_boolean
    assert info.classes == ["no", "yes"]
    assert info.labels[-1] is None
    assert set(info.labels[:-1]) == {"yes", "no"}


def test_multiclass_target_keeps_its_labels() -> None:
    info = read_target(["gold", "silver ", " bronze", "gold"])
    assert not info.is_boolean
    assert info.classes == ["bronze", "gold", "silver"]


def test_dates_become_age_month_and_weekday() -> None:
    frame = pd.DataFrame(
        {
            "created": [f"2025-05-{d:02d} 10:30" for d in range(1, 31)] + [""] * 2,
            "won": ["yes", "no"] * 16,
        }
    )
    schema = infer_schema(frame, "won", reference_time=REFERENCE).schema
    assert schema.column("created").kind == "date" and schema.column("created").has_time
    record = {"created": "2025-05-30T10:30:00+00:00"}
    prepared = prepare(schema, records_columns([record, {}], ["created"]), 2)
    age = prepared.numeric["created__age_days"]
    assert age[0] == pytest.approx((REFERENCE - datetime(2025, 5, 30, 10, 30, tzinfo=UTC)).total_seconds() / 86400)
    assert np.isnan(age[1])
    assert prepared.categorical["created__weekday"] == ["fri", "(missing)"]
    assert prepared.categorical["created__month"] == ["05", "(missing)"]
    assert prepared.numeric["created__hour"][0] == pytest.approx(10.5)


def test_windows_1252_exports_are_decoded() -> None:
    data = "nombre;país;ganado\n" + "\n".join(f"n{i};{'México' if i % 2 else 'Perú'};{i % 2}" for i in range(40))
    frame = parse_crm_csv(data.encode("cp1252"))
    assert list(frame.columns) == ["nombre", "país", "ganado"]
    assert set(frame["país"]) == {"México", "Perú"}


def test_unknown_columns_and_bad_targets_are_clear_errors() -> None:
    frame = pd.DataFrame({"a": range(40), "b": ["x", "y"] * 20, "t": ["yes", "no"] * 20})
    with pytest.raises(ValidationFailed, match="--drop column 'c'"):
        infer_schema(frame, "t", drop=["c"], reference_time=REFERENCE)
    with pytest.raises(ValidationFailed, match="target column 'outcome'"):
        infer_schema(frame, "outcome", reference_time=REFERENCE)
    with pytest.raises(ValidationFailed, match="single class"):
        infer_schema(frame.assign(t="yes"), "t", reference_time=REFERENCE)
    with pytest.raises(ValidationFailed, match="looks continuous"):
        infer_schema(frame.assign(t=[f"{i * 1.5}" for i in range(40)]), "t", reference_time=REFERENCE)
    with pytest.raises(ValidationFailed, match="fewer than 3 rows"):
        infer_schema(frame.assign(t=["yes"] * 38 + ["no"] * 2), "t", reference_time=REFERENCE)
