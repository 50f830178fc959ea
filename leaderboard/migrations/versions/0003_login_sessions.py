"""Server-side log-in sessions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 (4e74548)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column(
            "team_id", sa.Integer(), sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=True
        ),  # fmt: skip
        sa.Column("credential_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_login_sessions_team_id", "login_sessions", ["team_id"])


def downgrade() -> None:
    op.drop_table("login_sessions")
