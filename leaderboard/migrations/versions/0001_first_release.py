"""The first release's schema: teams, submissions, settings, bad_token_counts.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

A database is never made by the revisions: ``init_db`` creates the current tables and stamps
them with the newest revision. A database made before the migrations existed is recognised
by its tables (``leaderboard.migrations.legacy_revision``) and upgraded from there.
"""

from __future__ import annotations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
