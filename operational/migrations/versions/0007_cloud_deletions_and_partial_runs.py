"""Issue 14: a cloud user's deletion time (restorable for 30 days), and job runs that partly failed.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

from operational.tables import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OUTCOMES_BEFORE = "outcome IN ('running', 'succeeded', 'failed', 'held', 'skipped')"
OUTCOMES_AFTER = "outcome IN ('running', 'succeeded', 'partly failed', 'failed', 'held', 'skipped')"


def upgrade() -> None:
    with op.batch_alter_table("cloud_accounts") as batch:
        batch.add_column(sa.Column("deleted_at", UtcDateTime()))
    with op.batch_alter_table("job_runs") as batch:
        batch.drop_constraint(op.f("ck_job_runs_outcome"), type_="check")
        batch.create_check_constraint("outcome", OUTCOMES_AFTER)


def downgrade() -> None:
    op.execute("UPDATE job_runs SET outcome = 'failed' WHERE outcome = 'partly failed'")
    with op.batch_alter_table("job_runs") as batch:
        batch.drop_constraint(op.f("ck_job_runs_outcome"), type_="check")
        batch.create_check_constraint("outcome", OUTCOMES_BEFORE)
    with op.batch_alter_table("cloud_accounts") as batch:
        batch.drop_column("deleted_at")
