"""Held provisioning runs (M-11): deactivation count and release time.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

from operational.tables import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_runs") as batch:
        batch.add_column(sa.Column("held_deactivations", sa.Integer()))
        batch.add_column(sa.Column("released_at", UtcDateTime()))


def downgrade() -> None:
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_column("released_at")
        batch.drop_column("held_deactivations")
