"""Write back to the tenant's CRM what the agent decided: segment, stage, team, and a note with the reason."""

from __future__ import annotations

from typing import Any

from nightcrew.crm.connectors.base import CrmUpdate
from nightcrew.crm.connectors.http import CrmApiError
from nightcrew.crm.mapping import crm_id_from_external
from nightcrew.crm.repository import ContactRepository
from nightcrew.db import transaction
from nightcrew.observe import audit
from nightcrew.workflows.common import workflow_id
from nightcrew.workflows.runtime import container, step


def _retryable(error: BaseException) -> bool:
    return isinstance(error, CrmApiError) and error.retryable


@step("crm.write_back", retries=3, interval_s=1.0, should_retry=_retryable)
def write_back(tenant_id: int, event_key: str | None, contact_id: int, update: dict[str, Any]) -> dict[str, Any]:
    """Tell the CRM (when the tenant has one and the contact came from it); a note is written at most once."""
    c = container()
    tenant = c.tenant_by_id(tenant_id)
    connector = c.crm_connector(tenant)
    if connector is None:
        return {"skipped": "no CRM connector for this tenant"}
    crm = c.integrations(tenant).crm
    with transaction(c.sessions) as session:
        contact = ContactRepository(session, tenant_id).get(contact_id)
        assert contact is not None
        external_id = contact.external_id
    crm_id = crm_id_from_external(crm, external_id, c.playbook(tenant).crm.for_crm(crm))  # type: ignore[arg-type]
    if crm_id is None:
        return {"skipped": f"contact {external_id} did not come from {crm}"}
    wid = workflow_id()
    result = connector.write_back(
        CrmUpdate(
            contact_id=crm_id,
            segment=update.get("segment"),
            stage=update.get("stage"),
            note=update.get("note"),
            team=update.get("team"),
            idempotency_key=f"{wid}:crm.write_back",
        )
    )
    outcome = {"crm": crm, "crm_id": crm_id, "done": result.done, "skipped": result.skipped, "note_id": result.note_id}
    with transaction(c.sessions) as session:
        audit.record(
            session,
            tenant_id,
            kind="crm.written",
            step="crm.write_back",
            now=c.clock.now(),
            workflow_id=wid,
            event_key=event_key,
            contact_id=contact_id,
            input=update,
            output=outcome,
            reason=f"{crm}: wrote {', '.join(result.done) or 'nothing'}"
            + (f"; skipped {', '.join(f'{k} ({v})' for k, v in result.skipped.items())}" if result.skipped else ""),
        )
    return outcome


def _report_failure(
    tenant_id: int, event_key: str | None, contact_id: int, update: dict[str, Any], error: str
) -> dict[str, Any]:
    """The CRM refused: the lead was still handled; the failure is in the audit log for the operator."""
    c = container()
    with transaction(c.sessions) as session:
        audit.record(
            session,
            tenant_id,
            kind="crm.write_failed",
            step="crm.write_back",
            now=c.clock.now(),
            workflow_id=workflow_id(),
            event_key=event_key,
            contact_id=contact_id,
            input=update,
            output={"error": error},
            reason=f"the CRM did not take the update: {error}",
        )
    return {"failed": error}


def write_back_or_report(tenant_id: int, event_key: str | None, contact_id: int, update: dict[str, Any]) -> None:
    """Write back, and if every retry failed, record it and carry on: the CRM being down must not fail the lead."""
    try:
        write_back(tenant_id, event_key, contact_id, update)
    except Exception as exc:
        record_write_failure(tenant_id, event_key, contact_id, update, str(exc))


@step("crm.write_failed")
def record_write_failure(
    tenant_id: int, event_key: str | None, contact_id: int, update: dict[str, Any], error: str
) -> dict[str, Any]:
    """Record a write-back that failed after every retry."""
    return _report_failure(tenant_id, event_key, contact_id, update, error)
