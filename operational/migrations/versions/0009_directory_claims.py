"""Issue 17 point 2: usernames, aliases and UPN hashes claimed once for the whole deployment.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10
"""
import sqlalchemy as sa
from alembic import op

from operational.tables import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_claims",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(256).with_variant(sa.String(256, collation="C"), "postgresql"), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("claimed_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "value", name=op.f("pk_directory_claims")),
    )
    op.create_index(op.f("ix_directory_claims_holder"), "directory_claims", ["holder"])


def downgrade() -> None:
    op.drop_index(op.f("ix_directory_claims_holder"), table_name="directory_claims")
    op.drop_table("directory_claims")
