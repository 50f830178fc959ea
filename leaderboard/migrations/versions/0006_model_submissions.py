"""Model submissions: a submission's kind, status, failure reason, scores file and scoring time;
its scores are None until it is scored.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 (aa6ac4f)

Every earlier submission was a prediction file scored on upload: kind "predictions", status
"scored", its scores file the upload itself, scored when it was uploaded.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SCORES = ("n_rows", "public_auc", "public_lo", "public_hi", "private_auc", "private_lo",
          "private_hi")  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False,
                                   server_default="predictions"))  # fmt: skip
        batch.add_column(sa.Column("status", sa.String(16), nullable=False,
                                   server_default="scored"))  # fmt: skip
        batch.add_column(sa.Column("failure_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("scores_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("scored_at", sa.DateTime(timezone=True), nullable=True))
        for name in SCORES:
            batch.alter_column(name, existing_type=_type(name), nullable=True)
        batch.create_index("ix_submissions_status", ["status"])
    op.execute("UPDATE submissions SET scores_sha256 = sha256, scored_at = created_at")


def _type(name: str) -> sa.types.TypeEngine:
    return sa.Integer() if name == "n_rows" else sa.Float()


def downgrade() -> None:
    op.execute("DELETE FROM submissions WHERE status != 'scored'")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_index("ix_submissions_status")
        for name in SCORES:
            batch.alter_column(name, existing_type=_type(name), nullable=False)
        for name in ("scored_at", "scores_sha256", "failure_reason", "status", "kind"):
            batch.drop_column(name)
