"""Registry rules: register trained models, promote only through the gate, load the active one safely."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from nightcrew.db import transaction
from nightcrew.errors import Conflict, NotFound
from nightcrew.intelligence.models import ModelVersion
from nightcrew.intelligence.repository import ModelVersionRepository

if TYPE_CHECKING:
    from nightcrew.bootstrap import TenantRef
    from nightcrew.intelligence.intents import IntentModel
    from nightcrew.intelligence.segments import ArtifactInfo, GateDecision, SegmentModel, TrainingResult


def version_dict(row: ModelVersion) -> dict[str, Any]:
    """A registry row as JSON."""
    return {
        "kind": row.kind,
        "version": row.version,
        "created_at": row.created_at.isoformat(),
        "active": row.active,
        "promoted_at": row.promoted_at.isoformat() if row.promoted_at else None,
        "algorithm": row.algorithm,
        "target": row.target,
        "classes": row.classes,
        "path": row.path,
        "sha256": row.sha256,
        "training_data_hash": row.training_data_hash,
        "metrics": row.metrics,
        "holdout_metrics": row.holdout_metrics,
        "gate": row.gate,
    }


class ModelRegistryService:
    """The registry's rules; the edge owns the transaction."""

    def register_lead_model(
        self,
        session: Session,
        tenant_id: int,
        result: TrainingResult,
        info: ArtifactInfo,
        *,
        target: str,
        now: datetime,
    ) -> ModelVersion:
        """Record a trained lead model (inactive until promoted)."""
        repo = ModelVersionRepository(session, tenant_id)
        return repo.add(
            ModelVersion(
                kind="lead",
                version=repo.next_version("lead"),
                created_at=now,
                path=info.path,
                sha256=info.sha256,
                training_data_hash=info.training_data_hash,
                algorithm=info.chosen_model,
                target=target,
                classes=list(result.metrics.classes),
                data_schema=info.data_schema.model_dump(mode="json"),
                metrics=result.metrics.model_dump(mode="json"),
                active=False,
            )
        )

    def register_intent_model(
        self, session: Session, tenant_id: int, model: IntentModel, path: Path, sha256: str, *, now: datetime
    ) -> ModelVersion:
        """Record a trained intent model (inactive until promoted)."""
        repo = ModelVersionRepository(session, tenant_id)
        meta = model.metadata
        return repo.add(
            ModelVersion(
                kind="intent",
                version=repo.next_version("intent"),
                created_at=now,
                path=str(path),
                sha256=sha256,
                training_data_hash=meta.data_sha256,
                algorithm=meta.model_kind,
                target="intent",
                classes=list(model.intents),
                data_schema={"encoder": meta.encoder},
                metrics=meta.metrics.model_dump(mode="json") if meta.metrics else {},
                active=False,
            )
        )

    def record_holdout(
        self, session: Session, tenant_id: int, kind: str, version: int, metrics: dict[str, Any]
    ) -> None:
        """Keep the latest held-out evaluation with the version."""
        row = self._get(session, tenant_id, kind, version)
        row.holdout_metrics = metrics

    def _get(self, session: Session, tenant_id: int, kind: str, version: int) -> ModelVersion:
        row = ModelVersionRepository(session, tenant_id).get(kind, version)
        if row is None:
            raise NotFound(f"no {kind} model version {version}")
        return row

    def promote_lead_model(
        self,
        session: Session,
        tenant_id: int,
        version: int,
        *,
        now: datetime,
        min_accuracy: float | None = None,
        min_auc: float | None = None,
        allow_leakage: bool = False,
        strict_accuracy: bool = True,
    ) -> GateDecision:
        """Activate a lead model only if it passes the gate; the decision says which check failed."""
        from nightcrew.intelligence.segments import SegmentMetrics, check_promotion

        row = self._get(session, tenant_id, "lead", version)
        metrics = SegmentMetrics.model_validate(row.holdout_metrics or row.metrics)
        decision = check_promotion(
            metrics,
            min_accuracy=min_accuracy,
            min_auc=min_auc,
            allow_leakage=allow_leakage,
            strict_accuracy=strict_accuracy,
        )
        row.gate = {
            **decision.model_dump(mode="json"),
            "decided_at": now.isoformat(),
            "on": "holdout" if row.holdout_metrics else "cross-validation",
        }
        if decision.allowed:
            self._activate(session, tenant_id, row, now)
        return decision

    def promote_intent_model(
        self, session: Session, tenant_id: int, version: int, *, now: datetime, min_macro_f1: float
    ) -> bool:
        """Activate an intent model whose held-out macro-F1 reaches ``min_macro_f1``."""
        row = self._get(session, tenant_id, "intent", version)
        score = float((row.holdout_metrics or row.metrics or {}).get("macro_f1") or 0.0)
        allowed = score >= min_macro_f1
        row.gate = {
            "allowed": allowed,
            "checks": [
                {"name": "macro_f1", "passed": allowed, "detail": f"macro-F1 {score:.3f} vs minimum {min_macro_f1:.3f}"}
            ],
            "decided_at": now.isoformat(),
        }
        if allowed:
            self._activate(session, tenant_id, row, now)
        return allowed

    def _activate(self, session: Session, tenant_id: int, row: ModelVersion, now: datetime) -> None:
        if not Path(row.path).is_file() and not Path(row.path).is_dir():
            raise Conflict(f"model file {row.path} is missing: retrain or restore it before promoting")
        repo = ModelVersionRepository(session, tenant_id)
        repo.deactivate_all(row.kind)
        row.active, row.promoted_at = True, now


class DatabaseModelRegistry:
    """The workflows' view: the active model per tenant, looked up each time, loaded once per file."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._lead: dict[str, SegmentModel] = {}
        self._intent: dict[str, IntentModel] = {}
        self._lock = threading.Lock()

    def _active(self, tenant: TenantRef, kind: str) -> ModelVersion | None:
        with transaction(self.sessions) as session:
            return ModelVersionRepository(session, tenant.id).active(kind)

    def active_lead_model(self, tenant: TenantRef) -> tuple[SegmentModel, int] | None:
        """The promoted lead model and its version, or None."""
        row = self._active(tenant, "lead")
        if row is None:
            return None
        return self.load_lead_version(row), row.version

    def active_intent_model(self, tenant: TenantRef) -> IntentModel | None:
        """The promoted intent model, or None for the bundled default."""
        found = self.active_intent_model_version(tenant)
        return found[0] if found is not None else None

    def active_intent_model_version(self, tenant: TenantRef) -> tuple[IntentModel, int] | None:
        """The promoted intent model and its version, or None for the bundled default."""
        row = self._active(tenant, "intent")
        if row is None:
            return None
        return self.load_intent_version(row), row.version

    def load_intent_version(self, row: ModelVersion) -> IntentModel:
        """A registered intent model, loaded once per file."""
        with self._lock:
            model = self._intent.get(row.sha256)
            if model is None:
                from nightcrew.intelligence.intents import IntentModel

                model = IntentModel.load(Path(row.path))
                self._intent[row.sha256] = model
        return model

    def load_lead_version(self, row: ModelVersion) -> SegmentModel:
        """A registered lead model, loaded once per file (checked against its recorded sha256)."""
        with self._lock:
            model = self._lead.get(row.sha256)
            if model is None:
                from nightcrew.intelligence.segments import load_model

                model = load_model(Path(row.path), expected_sha256=row.sha256)
                self._lead[row.sha256] = model
        return model
