"""Issue 18: an unnamed second factor is stored with no name ("") and shown by its kind in the
reader's language; the default names enrolment stored before, in English or Welsh, become "".

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The default names enrolment used to store, in each of the portal's languages.
DEFAULT_NAMES = {"totp": ("Authenticator app", "Ap dilysu"), "webauthn": ("Security key", "Allwedd ddiogelwch")}


def upgrade() -> None:
    factors = sa.table("second_factors", sa.column("kind", sa.String), sa.column("label", sa.String))
    for kind, names in DEFAULT_NAMES.items():
        op.execute(factors.update().where(factors.c.kind == kind, factors.c.label.in_(names)).values(label=""))


def downgrade() -> None:
    factors = sa.table("second_factors", sa.column("kind", sa.String), sa.column("label", sa.String))
    for kind, names in DEFAULT_NAMES.items():
        op.execute(factors.update().where(factors.c.kind == kind, factors.c.label == "").values(label=names[0]))
