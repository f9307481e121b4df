"""All queries about the model registry."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from nightcrew.intelligence.models import ModelVersion


class ModelVersionRepository:
    """Model versions of one tenant."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def next_version(self, kind: str) -> int:
        """The version number the next model of ``kind`` gets."""
        current = self.session.scalar(
            select(func.max(ModelVersion.version)).where(
                ModelVersion.tenant_id == self.tenant_id, ModelVersion.kind == kind
            )
        )
        return int(current or 0) + 1

    def add(self, row: ModelVersion) -> ModelVersion:
        """Register a model version."""
        row.tenant_id = self.tenant_id
        self.session.add(row)
        self.session.flush()
        return row

    def get(self, kind: str, version: int) -> ModelVersion | None:
        """One version of a kind."""
        return self.session.scalar(
            select(ModelVersion).where(
                ModelVersion.tenant_id == self.tenant_id, ModelVersion.kind == kind, ModelVersion.version == version
            )
        )

    def active(self, kind: str) -> ModelVersion | None:
        """The active model of a kind, if any."""
        return self.session.scalar(
            select(ModelVersion).where(
                ModelVersion.tenant_id == self.tenant_id, ModelVersion.kind == kind, ModelVersion.active.is_(True)
            )
        )

    def all(self, kind: str | None = None) -> Sequence[ModelVersion]:
        """Every version (of a kind), newest first."""
        query = select(ModelVersion).where(ModelVersion.tenant_id == self.tenant_id)
        if kind:
            query = query.where(ModelVersion.kind == kind)
        return self.session.scalars(query.order_by(ModelVersion.kind, ModelVersion.version.desc())).all()

    def deactivate_all(self, kind: str) -> None:
        """Make no model of ``kind`` active (before activating one)."""
        self.session.execute(
            update(ModelVersion)
            .where(ModelVersion.tenant_id == self.tenant_id, ModelVersion.kind == kind)
            .values(active=False)
        )
