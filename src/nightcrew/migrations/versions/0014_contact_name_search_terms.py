"""contact name search terms: accent- and case-insensitive, from the start of any word of the name

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 20:40:00

``lower(name)`` (migration 0012) found "Ana Gómez" only by "ana g...", and on SQLite "ÁLVARO" never matched
"álvaro" (its lower() is ASCII-only). Each name is now stored as its folded suffixes that start at a word, and
the existing contacts are indexed here in batches. The folding is written out below, as it was at this revision,
so that a later change to the package does not change what this migration did.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def _terms(name: str | None) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", name or "")
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    words = [word for word in re.split(r"[\s\-]+", bare) if word]
    return sorted({" ".join(words[i:])[:200] for i in range(len(words))})


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    terms = op.create_table(
        "contact_search_terms",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("term", sa.String(length=200), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_search_terms_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_contact_search_terms_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("contact_id", "term", name=op.f("pk_contact_search_terms")),
    )
    key = '(term) COLLATE "C"' if postgres else "term"
    op.execute(f"CREATE INDEX ix_contact_search_terms_term ON contact_search_terms (tenant_id, {key})")
    after = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, tenant_id, name FROM contacts WHERE id > :after AND name IS NOT NULL ORDER BY id LIMIT :n"
            ),
            {"after": after, "n": BATCH},
        ).all()
        if not rows:
            break
        batch = [
            {"contact_id": row.id, "tenant_id": row.tenant_id, "term": term}
            for row in rows
            for term in _terms(row.name)
        ]
        if batch:
            bind.execute(sa.insert(terms), batch)
        after = rows[-1].id
    op.drop_index("ix_contacts_search_name", table_name="contacts")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    key = '(lower(name)) COLLATE "C"' if postgres else "lower(name)"
    op.execute(f"CREATE INDEX ix_contacts_search_name ON contacts (tenant_id, {key})")
    op.drop_index("ix_contact_search_terms_term", table_name="contact_search_terms")
    op.drop_table("contact_search_terms")
