"""All queries about review items and labelled examples."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nightcrew.db import is_unique_violation
from nightcrew.review.models import LabelledExample, ReviewItem


class ReviewRepository:
    """Review items of one tenant."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def insert_once(self, item: ReviewItem) -> ReviewItem:
        """Open an item, or return the one a re-run step already opened."""
        item.tenant_id = self.tenant_id
        try:
            with self.session.begin_nested():
                self.session.add(item)
                self.session.flush()
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            existing = self.session.scalar(
                select(ReviewItem).where(
                    ReviewItem.tenant_id == self.tenant_id, ReviewItem.dedupe_key == item.dedupe_key
                )
            )
            if existing is None:
                raise
            return existing
        return item

    def get(self, item_id: int, *, for_update: bool = False) -> ReviewItem | None:
        """An item by id, within the tenant."""
        query = select(ReviewItem).where(ReviewItem.tenant_id == self.tenant_id, ReviewItem.id == item_id)
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def open_for_message(self, message_id: int) -> Sequence[ReviewItem]:
        """The open items holding this message."""
        return self.session.scalars(
            select(ReviewItem)
            .where(
                ReviewItem.tenant_id == self.tenant_id,
                ReviewItem.message_id == message_id,
                ReviewItem.status == "open",
            )
            .with_for_update()
        ).all()

    def list(self, status: str | None, *, limit: int, offset: int) -> Sequence[ReviewItem]:
        """Items by status, oldest deadline first for open ones."""
        query = select(ReviewItem).where(ReviewItem.tenant_id == self.tenant_id)
        if status:
            query = query.where(ReviewItem.status == status)
        query = query.order_by(ReviewItem.deadline, ReviewItem.id).limit(limit).offset(offset)
        return self.session.scalars(query).all()

    def count_by_status(self) -> dict[str, int]:
        """How many items are in each status."""
        rows = self.session.execute(
            select(ReviewItem.status, func.count())
            .where(ReviewItem.tenant_id == self.tenant_id)
            .group_by(ReviewItem.status)
        ).all()
        return {str(status): int(n) for status, n in rows}


class ExampleRepository:
    """Labelled examples of one tenant."""

    def __init__(self, session: Session, tenant_id: int) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def add(self, example: LabelledExample) -> LabelledExample:
        """Store a labelled example."""
        example.tenant_id = self.tenant_id
        self.session.add(example)
        self.session.flush()
        return example

    def of_kind(self, kind: str) -> Sequence[LabelledExample]:
        """Every example of a kind ('segment' or 'intent'), oldest first."""
        return self.session.scalars(
            select(LabelledExample)
            .where(LabelledExample.tenant_id == self.tenant_id, LabelledExample.kind == kind)
            .order_by(LabelledExample.id)
        ).all()
