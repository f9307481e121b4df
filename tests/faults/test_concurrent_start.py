"""Workers started together on a fresh database: each must come up (a scale-out deployment's first start)."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from tests.conftest import make_settings

from nightcrew.bootstrap import Container, TenantRef
from nightcrew.crm.models import Tenant
from nightcrew.db import make_session_factory


def test_a_tenant_another_process_is_creating_is_taken_over_not_a_crash(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("needs PostgreSQL's lock view to line the two processes up deterministically")
    slug = f"race{uuid.uuid4().hex[:8]}"
    settings = make_settings(database_url, tmp_path)
    first, second = Container(settings), Container(settings)
    result: list[TenantRef | BaseException] = []

    def start_second() -> None:
        try:
            result.append(second.ensure_tenant(slug))
        except BaseException as exc:
            result.append(exc)

    try:
        session = make_session_factory(first.engine)()
        # The first process is midway through ensure_tenant: its row is inserted, not yet committed.
        session.add(Tenant(slug=slug, name=slug, settings={}, created_at=first.clock.now()))
        session.flush()
        racer = threading.Thread(target=start_second)
        racer.start()
        deadline = time.monotonic() + 20
        with first.engine.connect() as probe:
            # The second process found no tenant and now waits on the first one's unique-index entry.
            while not probe.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar_one():
                assert time.monotonic() < deadline, "the second process never reached its insert"
                time.sleep(0.02)
        session.commit()
        session.close()
        racer.join(timeout=20)
        [outcome] = result
        assert isinstance(outcome, TenantRef), f"the second process failed: {outcome!r}"
        assert outcome.slug == slug
    finally:
        first.close()
        second.close()
