"""Issue 18 points 6-9: second factors (authenticator apps, security keys) and recovery codes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-12
"""
import sqlalchemy as sa
from alembic import op

from operational.tables import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "second_factors",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("totp_secret_sealed", sa.Text()),
        sa.Column("last_time_step", sa.BigInteger()),
        sa.Column("credential_id", sa.String(1400)),
        sa.Column("public_key", sa.Text()),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_used_at", UtcDateTime()),
        sa.CheckConstraint("kind IN ('totp', 'webauthn')", name=op.f("ck_second_factors_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_second_factors")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_second_factors_credential_id")),
    )
    op.create_index(op.f("ix_second_factors_account_id"), "second_factors", ["account_id"])
    op.create_table(
        "recovery_codes",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_recovery_codes_code_hash")),
    )
    op.create_index(op.f("ix_recovery_codes_account_id"), "recovery_codes", ["account_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_recovery_codes_account_id"), table_name="recovery_codes")
    op.drop_table("recovery_codes")
    op.drop_index(op.f("ix_second_factors_account_id"), table_name="second_factors")
    op.drop_table("second_factors")
