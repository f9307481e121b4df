"""contact search indexes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 03:10:00

The dashboard searches contacts by the start of their name, email or external id in any case. Each index is on
``lower(column)`` compared in code-point order (``COLLATE "C"`` on PostgreSQL, SQLite's own order), so a prefix
range reads only the matching entries, whatever collation the database was created with.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("name", "email", "external_id")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for column in COLUMNS:
        key = f'(lower({column})) COLLATE "C"' if postgres else f"lower({column})"
        op.execute(f"CREATE INDEX ix_contacts_search_{column} ON contacts (tenant_id, {key})")


def downgrade() -> None:
    for column in COLUMNS:
        op.drop_index(f"ix_contacts_search_{column}", table_name="contacts")
