"""Issue 18: badge sign-in for the youngest learners (school settings, printed badges).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10
"""
import sqlalchemy as sa
from alembic import op

from operational.tables import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "school_badge_settings",
        sa.Column("school", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("years", sa.String(128), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("changed_by", sa.String(256), nullable=False),
        sa.Column("changed_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("mode IN ('badge', 'badge-and-pin')", name=op.f("ck_school_badge_settings_mode")),
        sa.PrimaryKeyConstraint("school", name=op.f("pk_school_badge_settings")),
    )
    op.create_table(
        "badges",
        sa.Column("badge_id", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("school", sa.String(16), nullable=False),
        sa.Column("secret_digest", sa.String(64), nullable=False),
        sa.Column("pin_digest", sa.String(64)),
        sa.Column("issued_by", sa.String(256), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime()),
        sa.Column("revoked_why", sa.String(16)),
        sa.PrimaryKeyConstraint("badge_id", name=op.f("pk_badges")),
    )
    live = sa.text("revoked_at IS NULL")
    op.create_index("ix_badges_account_live", "badges", ["account_id"], unique=True,
                    sqlite_where=live, postgresql_where=live)
    op.create_index("ix_badges_school_account", "badges", ["school", "account_id"])


def downgrade() -> None:
    op.drop_index("ix_badges_school_account", table_name="badges")
    op.drop_index("ix_badges_account_live", table_name="badges")
    op.drop_table("badges")
    op.drop_table("school_badge_settings")
