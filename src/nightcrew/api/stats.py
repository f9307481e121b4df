"""Outcome statistics over HTTP: which copy, segment, language and path work."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from nightcrew.api.auth import Principal
from nightcrew.api.deps import get_container, principal
from nightcrew.bootstrap import Container
from nightcrew.db import transaction
from nightcrew.observe.outcomes import with_rates
from nightcrew.observe.repository import OutcomeRepository

router = APIRouter(prefix="/v1/stats", tags=["stats"])


@router.get("/outcomes")
def outcomes(
    by: str = Query(default="template", pattern="^(plan|template|variant|segment|language|path|channel)$"),
    who: Principal = Depends(principal),
    c: Container = Depends(get_container),
) -> dict[str, Any]:
    """Per group: sent, replied, booked, cancelled, opted out, won, with rates and 95% Wilson intervals."""
    who.require("read")
    with transaction(c.sessions) as session:
        rows = OutcomeRepository(session, who.tenant.id).table(by)
    return {"by": by, "rows": with_rates(rows)}
