"""`nightcrew crm sync` backfills contacts and their CRM history (notes, stage history), resumable, through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, text
from tests.fakes.crm_servers import FakeGoHighLevel, FakeHubSpot
from tests.integrations.helpers import PLAYBOOK_CRM, START
from tests.support.playbooks import custom_playbook

EXE = str(Path(sys.executable).parent / "nightcrew")


def nightcrew(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)


def install(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    def edit(data: dict[str, Any]) -> None:
        data["crm"] = yaml.safe_load(PLAYBOOK_CRM)["crm"]

    env = {"NIGHTCREW_DATABASE_URL": f"sqlite:///{tmp_path}/n.db", **env}
    env["NIGHTCREW_PLAYBOOK"] = str(custom_playbook(tmp_path / "pb", edit))
    assert nightcrew("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    assert nightcrew("tenants", "create", "default", cwd=tmp_path, env=env).returncode == 0
    return env


def history(tmp_path: Path) -> list[tuple[str, str, str, str, str | None]]:
    """Every stored history item: (contact, kind, CRM id, body, nightcrew stage), in a stable order."""
    engine = create_engine(f"sqlite:///{tmp_path}/n.db")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.external_id, a.kind, a.external_id, a.body, a.details FROM contact_activities a "
                "JOIN contacts c ON c.id = a.contact_id ORDER BY c.external_id, a.occurred_at, a.id"
            )
        ).all()
    engine.dispose()
    return [(r[0], r[1], r[2], r[3], (yaml.safe_load(r[4]) or {}).get("stage")) for r in rows]


def test_hubspot_sync_keeps_notes_and_stage_history_and_resumes_without_duplicates(tmp_path: Path) -> None:
    server = FakeHubSpot()
    server.start()
    try:
        for i in range(120):
            at = START + timedelta(minutes=i)
            server.add_contact(
                str(1000 + i),
                {"firstname": f"Ana{i}", "email": f"a{i}@example.com", "child_age": "9", "inquiry_type": "English"},
                created=at,
                updated=at,
            )
        first_note = server.add_note("1001", "<p>Called: interested in <b>robotics</b> &amp; coding</p>", START)
        server.add_note("1001", "nightcrew: segment warm\n\n[nightcrew:0123456789abcdef]", START)  # our own
        later_note = server.add_note("1075", "Asked for the price list", START + timedelta(days=1))
        server.add_history("1001", "lifecyclestage", [("subscriber", START), ("lead", START + timedelta(hours=2))])
        server.add_history("1110", "lifecyclestage", [("customer", START + timedelta(days=3))])
        env = install(
            tmp_path,
            {
                "NIGHTCREW_CRM": "hubspot",
                "NIGHTCREW_HUBSPOT_TOKEN": server.token,
                "NIGHTCREW_HUBSPOT_BASE_URL": server.url,
            },
        )
        # The token is revoked as the second page is asked for: the run stops after storing the first page.
        server.script(r"/crm/v3/objects/contacts", 401, method="GET", skip=1, times=1)
        interrupted = nightcrew("crm", "sync", "--page-size", "50", cwd=tmp_path, env=env)
        assert interrupted.returncode != 0
        stored = history(tmp_path)
        assert stored == [
            ("hubspot:1001", "note", f"note:{first_note}", "Called: interested in robotics & coding", None),
            (
                "hubspot:1001",
                "stage",
                f"stage:lifecyclestage:{int(START.timestamp() * 1000)}:subscriber",
                "lifecyclestage: subscriber",
                "new",
            ),
            (
                "hubspot:1001",
                "stage",
                f"stage:lifecyclestage:{int((START + timedelta(hours=2)).timestamp() * 1000)}:lead",
                "lifecyclestage: lead",
                "new",
            ),
        ]
        resumed = nightcrew("crm", "sync", "--page-size", "50", cwd=tmp_path, env=env)
        assert resumed.returncode == 0, resumed.stderr
        assert "70 created" in resumed.stdout and "2 history item(s)" in resumed.stdout
        assert "(resumed)" in resumed.stdout
        assert history(tmp_path) == [
            *stored,
            ("hubspot:1075", "note", f"note:{later_note}", "Asked for the price list", None),
            (
                "hubspot:1110",
                "stage",
                f"stage:lifecyclestage:{int((START + timedelta(days=3)).timestamp() * 1000)}:customer",
                "lifecyclestage: customer",
                "enrolled",
            ),
        ]
        # The first page was not read again, nor its contacts' notes: one look at each contact's notes in all.
        looked = Counter(
            c.path.split("/")[5] for c in server.calls("GET", r"/crm/v4/objects/contacts/\d+/associations/notes")
        )
        assert len(looked) == 120 and set(looked.values()) == {1}
        batches = [len(c.json["inputs"]) for c in server.calls("POST", r"/crm/v3/objects/contacts/batch/read")]
        assert batches == [50, 50, 20] and all(
            c.json["propertiesWithHistory"] == ["lifecyclestage"]
            for c in server.calls("POST", r"/crm/v3/objects/contacts/batch/read")
        )
        # A whole new run reads everything again and stores nothing twice.
        again = nightcrew("crm", "sync", "--page-size", "50", cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stderr
        assert "0 created, 120 updated" in again.stdout and "0 history item(s)" in again.stdout
        assert len(history(tmp_path)) == 5
        # --no-history backfills contacts only.
        server.reset_log()
        bare = nightcrew("crm", "sync", "--no-history", cwd=tmp_path, env=env)
        assert bare.returncode == 0 and [c.brief() for c in server.calls()] == [
            ("GET", "/crm/v3/objects/contacts"),
            ("GET", "/crm/v3/objects/contacts"),
        ]
    finally:
        server.stop()


def test_gohighlevel_sync_keeps_notes(tmp_path: Path) -> None:
    server = FakeGoHighLevel()
    server.start()
    try:
        for i in range(3):
            server.add_contact(
                {
                    "id": f"ghl{i}",
                    "firstName": f"João{i}",
                    "phone": f"+55119123456{i:02d}",
                    "customFields": [{"id": "Xq7Ch1dAge", "value": "10"}],
                    "dateAdded": (START + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
                }
            )
        note = server.add_note("ghl1", "Prefers WhatsApp after 18h", START + timedelta(hours=5))
        env = install(
            tmp_path,
            {
                "NIGHTCREW_CRM": "gohighlevel",
                "NIGHTCREW_GHL_TOKEN": server.token,
                "NIGHTCREW_GHL_LOCATION_ID": server.location_id,
                "NIGHTCREW_GHL_BASE_URL": server.url,
            },
        )
        result = nightcrew("crm", "sync", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert "3 created" in result.stdout and "1 history item(s)" in result.stdout
        assert history(tmp_path) == [("ghl:ghl1", "note", f"note:{note}", "Prefers WhatsApp after 18h", None)]
        assert [c.brief() for c in server.calls()] == [
            ("GET", "/contacts/"),
            ("GET", "/contacts/ghl0/notes"),
            ("GET", "/contacts/ghl1/notes"),
            ("GET", "/contacts/ghl2/notes"),
        ]
    finally:
        server.stop()
