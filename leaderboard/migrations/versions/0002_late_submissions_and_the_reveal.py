"""Late submissions, the stored final ranking, the organizers' audit log, the board's version.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 (cf45fb0)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "submissions",
        sa.Column("is_late", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "final_rankings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    board_version = op.create_table(
        "board_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(board_version, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table("board_version")
    op.drop_table("audit_log")
    op.drop_table("final_rankings")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("is_late")
