"""Issue 15 point 1: server-side browser sessions, shared by every web node.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09
"""
import sqlalchemy as sa
from alembic import op

from operational.tables import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("sso_account_id", sa.String(64)),
        sa.Column("portal_account_id", sa.String(64)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_seen_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_web_sessions")),
    )
    op.create_index(op.f("ix_web_sessions_sso_account_id"), "web_sessions", ["sso_account_id"])
    op.create_index(op.f("ix_web_sessions_portal_account_id"), "web_sessions", ["portal_account_id"])
    op.create_index(op.f("ix_web_sessions_expires_at"), "web_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_web_sessions_expires_at"), table_name="web_sessions")
    op.drop_index(op.f("ix_web_sessions_portal_account_id"), table_name="web_sessions")
    op.drop_index(op.f("ix_web_sessions_sso_account_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
