"""A contact's timeline shows what the CRM recorded before nightcrew, and what the provider said of each message."""

from __future__ import annotations

from datetime import timedelta

from dbos import DBOS
from tests.conftest import Env
from tests.support.events import lead

from nightcrew.channels.service import record_delivery_status
from nightcrew.channels.twilio import TwilioStatus
from nightcrew.crm.models import ContactActivity
from nightcrew.crm.repository import ActivityRepository, ContactRepository
from nightcrew.db import transaction
from nightcrew.observe.service import AuditQueries
from nightcrew.workflows.dispatch import ingest


def test_crm_history_and_delivery_receipts_are_on_the_timeline(env: Env) -> None:
    report = ingest(env.container, env.tenant, [lead("tl-1", "tlc-1")], source="test")
    DBOS.retrieve_workflow(report.accepted[0].workflow_id).get_result()
    earlier = env.clock.now() - timedelta(days=30)
    with transaction(env.container.sessions) as session:
        contact = ContactRepository(session, env.tenant.id).by_external_id("tlc-1")
        assert contact is not None
        ActivityRepository(session, env.tenant.id).keep_new(
            [
                ContactActivity(
                    contact_id=contact.id,
                    source="hubspot",
                    kind="note",
                    external_id="n-1",
                    body="Called last month: wants coding for her 9-year-old",
                    details={},
                    occurred_at=earlier,
                    created_at=env.clock.now(),
                )
            ]
        )
        first = AuditQueries().timeline(session, env.tenant.id, "tlc-1")
        [message] = [i["message"] for i in first["items"] if i["type"] == "message"]
        key = message["idempotency_key"]
    with transaction(env.container.sessions) as session:
        record_delivery_status(
            session, env.tenant.id, TwilioStatus("SM1", "delivered", idempotency_key=key), env.clock.now()
        )
    with transaction(env.container.sessions) as session:
        timeline = AuditQueries().timeline(session, env.tenant.id, "tlc-1")
    crm = timeline["items"][0]
    assert crm["type"] == "crm" and crm["at"] == earlier.isoformat()
    assert crm["crm"]["source"] == "hubspot" and "coding" in crm["crm"]["body"]
    [message] = [i["message"] for i in timeline["items"] if i["type"] == "message"]
    assert message["delivery_status"] == "delivered" and message["delivery_updated_at"] is not None
