"""Whether a scored submission beat its team's best so far on the public split (the Ladder).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 (ladder, issue 21)

Every submission scored before is taken as accepted, so a Ladder board shows them as the plain
board did; a queued, running or failed one stays None until it is scored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("submissions", sa.Column("ladder_accepted", sa.Boolean(), nullable=True))
    submissions = sa.table(
        "submissions", sa.column("ladder_accepted", sa.Boolean()), sa.column("status", sa.String())
    )
    op.execute(
        submissions.update().where(submissions.c.status == "scored").values(ladder_accepted=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("ladder_accepted")
