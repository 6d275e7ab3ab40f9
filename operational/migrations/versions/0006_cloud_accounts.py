"""The Microsoft 365 tenant as Porth last left it: cloud accounts and sync marks.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

from operational.tables import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cloud_accounts",
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("cloud_id", sa.String(64)),
        sa.Column("upn", sa.String(256)),
        sa.Column("licence", sa.String(64)),
        sa.Column("digest", sa.String(32)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_message", sa.Text()),
        sa.Column("error_permanent", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("state IN ('pending', 'applied', 'failed')", name=op.f("ck_cloud_accounts_state")),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_cloud_accounts")),
    )
    op.create_index("ix_cloud_accounts_state", "cloud_accounts", ["state"])
    op.create_table(
        "sync_marks",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sync_marks")),
    )


def downgrade() -> None:
    op.drop_table("sync_marks")
    op.drop_index("ix_cloud_accounts_state", table_name="cloud_accounts")
    op.drop_table("cloud_accounts")
