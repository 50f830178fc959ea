"""The course: learners (teams that report their lesson checks) and the step results they report.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-02 (the course on the site, issue 26)

New tables, empty: nothing was reported before this version.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "course_learners",
        sa.Column(
            "team_id", sa.Integer(), sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("pseudonym", sa.String(40), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id"),
        sa.UniqueConstraint("pseudonym"),
    )
    op.create_table(
        "course_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "team_id", sa.Integer(), sa.ForeignKey("teams.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("report_id", sa.String(64), nullable=False),
        sa.Column("lesson", sa.Integer(), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("quick", sa.Boolean(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("code", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "report_id"),
    )
    op.create_index("ix_course_reports_team_id", "course_reports", ["team_id"])
    op.create_index("ix_course_reports_received_at", "course_reports", ["received_at"])
    op.create_table(
        "course_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "report_pk",
            sa.Integer(),
            sa.ForeignKey("course_reports.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_course_steps_report_pk", "course_steps", ["report_pk"])


def downgrade() -> None:
    op.drop_table("course_steps")
    op.drop_table("course_reports")
    op.drop_table("course_learners")
