"""Imports every ORM model so the metadata is complete (Alembic and tests use it)."""

from nightcrew.ai.models import ModelCall
from nightcrew.channels.models import Message
from nightcrew.crm.models import ApiKey, Contact, FollowUp, PipelineStage, StageChange, Tenant
from nightcrew.events.models import Event
from nightcrew.observe.models import Action
from nightcrew.review.models import LabelledExample, ReviewItem

__all__ = [
    "Action",
    "ApiKey",
    "Contact",
    "Event",
    "FollowUp",
    "LabelledExample",
    "Message", "ModelCall",
    "PipelineStage",
    "ReviewItem",
    "StageChange",
    "Tenant",
]
