"""Queued changes from the portal: username changes (A-5) and staff licence requests (G-2).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

from operational.tables import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "username_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("requested_by", sa.String(256), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("done_at", UtcDateTime()),
        sa.Column("old_username", sa.String(256)),
        sa.Column("new_username", sa.String(256)),
        sa.Column("error", sa.Text()),
        sa.CheckConstraint("state IN ('pending', 'applied', 'failed')", name=op.f("ck_username_changes_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_username_changes")),
    )
    op.create_index("ix_username_changes_state_requested_at", "username_changes", ["state", "requested_at"])
    op.create_index("ix_username_changes_account_id", "username_changes", ["account_id"])
    op.create_table(
        "licence_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("school", sa.String(16), nullable=False),
        sa.Column("wanted", sa.Boolean(), nullable=False),
        sa.Column("requested_by", sa.String(256), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("done_at", UtcDateTime()),
        sa.Column("error", sa.Text()),
        sa.CheckConstraint("state IN ('pending', 'applied', 'failed')", name=op.f("ck_licence_requests_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licence_requests")),
    )
    op.create_index("ix_licence_requests_school_account", "licence_requests", ["school", "account_id", "id"])
    op.create_index("ix_licence_requests_state", "licence_requests", ["state"])


def downgrade() -> None:
    op.drop_index("ix_licence_requests_state", table_name="licence_requests")
    op.drop_index("ix_licence_requests_school_account", table_name="licence_requests")
    op.drop_table("licence_requests")
    op.drop_index("ix_username_changes_account_id", table_name="username_changes")
    op.drop_index("ix_username_changes_state_requested_at", table_name="username_changes")
    op.drop_table("username_changes")
