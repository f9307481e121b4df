"""Bulk paths: a CSV import and a CRM backfill create contacts in batches, report bad rows, send nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from tests.fakes.crm_servers import FakeHubSpot
from tests.integrations.helpers import PLAYBOOK_CRM
from tests.support.playbooks import custom_playbook

EXE = str(Path(sys.executable).parent / "nightcrew")


def nightcrew(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


def test_csv_import_keeps_good_rows_and_reports_bad_ones(tmp_path: Path) -> None:
    env = {"NIGHTCREW_DATABASE_URL": f"sqlite:///{tmp_path}/n.db"}
    assert nightcrew("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    assert nightcrew("tenants", "create", "default", cwd=tmp_path, env=env).returncode == 0
    rows = ["ID;Nombre;Correo;Teléfono;Edad hijo;Ciudad"]
    rows += [f"c{i};Padre {i};p{i}@example.com;+57300{1000000 + i:07d};{6 + i % 10};Bogotá" for i in range(1200)]
    rows += ["c-bad1;Sin correo;no-es-email;;9;Lima", ";Sin id;x@example.com;;8;Lima"]
    (tmp_path / "contacts.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    args = [
        "contacts",
        "import",
        "contacts.csv",
        "--map",
        "ID=external_id",
        "--map",
        "Nombre=name",
        "--map",
        "Correo=email",
        "--map",
        "Teléfono=phone",
        "--map",
        "Edad hijo=fields.child_age",
        "--map",
        "Ciudad=location",
        "--json",
    ]
    result = nightcrew(*args, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["created"] == 1200 and summary["updated"] == 0 and summary["rejected"] == 2
    by_row = {e["row"]: e["errors"] for e in summary["errors"]}
    assert by_row[1202] == [{"field": "email", "reason": "not an email address"}]
    assert by_row[1203][0]["field"] == "external_id"
    again = json.loads(nightcrew(*args, cwd=tmp_path, env=env).stdout)
    assert again["created"] == 0 and again["updated"] == 1200
    trace = nightcrew("trace", "c7", "--json", cwd=tmp_path, env=env)
    timeline = json.loads(trace.stdout)
    assert timeline["contact"]["fields"] == {"child_age": "13"} and timeline["contact"]["location"] == "Bogotá"
    assert [i for i in timeline["items"] if i["type"] == "message"] == []  # an import sends nothing


def test_crm_sync_backfills_hubspot_contacts_page_by_page(tmp_path: Path) -> None:
    server = FakeHubSpot()
    server.start()
    try:
        start = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
        for i in range(250):
            server.add_contact(
                str(1000 + i),
                {
                    "firstname": f"Ana{i}",
                    "lastname": "G",
                    "email": f"a{i}@example.com",
                    "phone": "+52 55 1234 5678",
                    "child_age": str(6 + i % 8),
                    "inquiry_type": "English",
                },
                created=start + timedelta(minutes=i),
                updated=start + timedelta(minutes=i),
            )
        server.add_contact("9999", {"firstname": "Bad", "child_age": "veinte"}, created=start, updated=start)

        def edit(data: dict[str, Any]) -> None:
            data["crm"] = yaml.safe_load(PLAYBOOK_CRM)["crm"]

        playbook = custom_playbook(tmp_path / "pb", edit)
        env = {
            "NIGHTCREW_DATABASE_URL": f"sqlite:///{tmp_path}/n.db",
            "NIGHTCREW_CRM": "hubspot",
            "NIGHTCREW_HUBSPOT_TOKEN": server.token,
            "NIGHTCREW_HUBSPOT_BASE_URL": server.url,
            "NIGHTCREW_PLAYBOOK": str(playbook),
        }
        assert nightcrew("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
        assert nightcrew("tenants", "create", "default", cwd=tmp_path, env=env).returncode == 0
        result = nightcrew("crm", "sync", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert "250 created" in result.stdout and "1 kept aside" in result.stdout
        pages = [c for c in server.calls("GET") if c.path == "/crm/v3/objects/contacts"]
        assert len(pages) >= 3  # paginated
        shown = json.loads(nightcrew("trace", "hubspot:1007", "--json", cwd=tmp_path, env=env).stdout)
        assert shown["contact"]["fields"]["child_age"] == 13
    finally:
        server.stop()
