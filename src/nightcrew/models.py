"""Imports every ORM model so the metadata is complete (Alembic and tests use it)."""

from nightcrew.ai.models import ModelCall, ProviderBreaker
from nightcrew.channels.models import Message
from nightcrew.crm.models import (
    ApiKey,
    Contact,
    ContactActivity,
    CrmImportError,
    CrmSyncCheckpoint,
    FollowUp,
    PipelineStage,
    StageChange,
    Tenant,
)
from nightcrew.events.models import Event, Executor
from nightcrew.intelligence.models import ModelVersion
from nightcrew.observe.models import Action, Outcome
from nightcrew.review.models import LabelledExample, ReviewItem

__all__ = [
    "Action",
    "ApiKey",
    "Contact",
    "ContactActivity",
    "CrmImportError",
    "CrmSyncCheckpoint",
    "Event",
    "Executor",
    "FollowUp",
    "LabelledExample",
    "Message",
    "ModelCall",
    "ModelVersion",
    "Outcome",
    "PipelineStage",
    "ProviderBreaker",
    "ReviewItem",
    "StageChange",
    "Tenant",
]
