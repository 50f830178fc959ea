"""How many uploads of each team were refused as invalid on each UTC day (REFUSED_PER_DAY).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 (refusals, issue 23)

A new table, empty: refusals before this version were not counted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refused_uploads",
        sa.Column(
            "team_id", sa.Integer(), sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "day"),
    )


def downgrade() -> None:
    op.drop_table("refused_uploads")
