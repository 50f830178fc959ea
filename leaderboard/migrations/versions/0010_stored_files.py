"""The files that workers read, kept in the database (workers on other machines share no folder).

Revision ID: 0010
Revises: 0011 (the course's tables landed first, numbered 0011)
Create Date: 2026-12-02 (remote workers, issue 24)

A new table, empty: `leaderboard init-db` (or `serve`) then copies into it the models and
scores files that the database's rows name, and the challenge's answer key and test.root.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stored_files",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stored_files")
