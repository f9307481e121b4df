"""The human review queue over HTTP: list, show, approve (with edits, re-checked), reject."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from nightcrew.api.auth import Principal
from nightcrew.api.deps import get_container, principal
from nightcrew.bootstrap import Container
from nightcrew.db import transaction
from nightcrew.errors import NotFound
from nightcrew.review.repository import ReviewRepository
from nightcrew.review.service import item_dict
from nightcrew.workflows.review import approve_item, reject_item

router = APIRouter(prefix="/v1/review", tags=["review"])

# Ids are the database's 32-bit integers; past that nothing can exist (and PostgreSQL would refuse the query).
MAX_ID = 2**31 - 1
ItemId = Annotated[int, Path(ge=1, le=MAX_ID, description="The review item's id.")]


class Approval(BaseModel):
    """A reviewer's approval: optionally an edited text and corrected labels."""

    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(default=None, max_length=5000)
    segment: str | None = Field(default=None, max_length=64)
    intent: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, max_length=1000)


class Rejection(BaseModel):
    """A reviewer's rejection, with its reason."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=1000)
    segment: str | None = Field(default=None, max_length=64)
    intent: str | None = Field(default=None, max_length=64)


def _correction(body: Approval | Rejection) -> dict[str, str]:
    return {k: v for k, v in (("segment", body.segment), ("intent", body.intent)) if v}


@router.get("")
def list_items(
    status: str | None = Query(default="open", pattern="^(open|approved|rejected|all)$"),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0, le=MAX_ID),
    who: Principal = Depends(principal),
    c: Container = Depends(get_container),
) -> dict[str, Any]:
    """Items waiting for a person (or decided ones), nearest deadline first."""
    who.require("read")
    with transaction(c.sessions) as session:
        repo = ReviewRepository(session, who.tenant.id)
        items = repo.list(None if status == "all" else status, limit=limit, offset=offset)
        return {"items": [item_dict(i) for i in items], "counts": repo.count_by_status()}


@router.get("/{item_id}")
def get_item(item_id: ItemId, who: Principal = Depends(principal), c: Container = Depends(get_container)) -> Any:
    """One review item with its draft, reasons and context."""
    who.require("read")
    with transaction(c.sessions) as session:
        item = ReviewRepository(session, who.tenant.id).get(item_id)
        if item is None:
            raise NotFound(f"review item #{item_id} not found")
        return item_dict(item)


@router.post("/{item_id}/approve")
async def approve(
    item_id: ItemId, body: Approval, who: Principal = Depends(principal), c: Container = Depends(get_container)
) -> Any:
    """Approve; an edited text is re-checked by every guardrail before anything is sent."""
    who.require("review")
    return await run_in_threadpool(
        approve_item,
        c,
        who.tenant,
        item_id,
        reviewer=who.key_name,
        text=body.text,
        correction=_correction(body),
        note=body.note,
    )


@router.post("/{item_id}/reject")
async def reject(
    item_id: ItemId, body: Rejection, who: Principal = Depends(principal), c: Container = Depends(get_container)
) -> Any:
    """Reject: the draft is never sent; the reason is in the audit log."""
    who.require("review")
    return await run_in_threadpool(
        reject_item, c, who.tenant, item_id, reviewer=who.key_name, reason=body.reason, correction=_correction(body)
    )
