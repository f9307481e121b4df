"""The model registry as seen by the workflows: which lead and intent models are active per tenant."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from nightcrew.bootstrap import TenantRef
    from nightcrew.intelligence.intents import IntentModel


class ModelRegistry(Protocol):
    """Active models per tenant (loaded from the database-backed registry, cached)."""

    def active_intent_model(self, tenant: TenantRef) -> IntentModel | None:
        """The tenant's promoted intent model, or None for the bundled default."""
        ...
