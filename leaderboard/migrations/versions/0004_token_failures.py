"""Wrong credentials counted per address with their times and kind (was bad_token_counts).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 (7421a75)

Each address's count is kept: its window start becomes both the first and the last time.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# What the first release counted: wrong team or organizer tokens (String(32) in the new table).
OLD_KIND = "team or organizer token"


def upgrade() -> None:
    op.create_table(
        "token_failures",
        sa.Column("address", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_kind", sa.String(32), nullable=False),
    )
    op.create_index("ix_token_failures_last_at", "token_failures", ["last_at"])
    op.execute(
        sa.text(
            "INSERT INTO token_failures (address, failures, first_at, last_at, last_kind) "
            "SELECT address, failures, window_start, window_start, :kind FROM bad_token_counts"
        ).bindparams(kind=OLD_KIND)
    )
    op.drop_table("bad_token_counts")


def downgrade() -> None:
    op.create_table(
        "bad_token_counts",
        sa.Column("address", sa.String(64), primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
    )
    op.execute(
        "INSERT INTO bad_token_counts (address, window_start, failures) "
        "SELECT address, last_at, failures FROM token_failures"
    )
    op.drop_table("token_failures")
