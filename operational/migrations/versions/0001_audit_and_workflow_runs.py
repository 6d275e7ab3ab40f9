"""Audit log (R-7) and workflow runs with their error entries (M-10).

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

from operational.tables import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("actor_role", sa.String(64)),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_kind", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(64)),
        sa.Column("target_label", sa.String(256)),
        sa.Column("school", sa.String(16)),
        sa.Column("organisation", sa.String(16)),
        sa.Column("source_address", sa.String(64)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.JSON()),
        sa.CheckConstraint("outcome IN ('success', 'refused', 'failed')", name=op.f("ck_audit_events_outcome")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_school_at", "audit_events", ["school", "at"])
    op.create_index("ix_audit_events_organisation_at", "audit_events", ["organisation", "at"])
    op.create_index("ix_audit_events_actor_at", "audit_events", ["actor", "at"])
    op.create_index("ix_audit_events_target_id", "audit_events", ["target_id"])

    op.create_table(
        "workflow_runs",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("school", sa.String(16), nullable=False),
        sa.Column("workflow", sa.String(32), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime()),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(512)),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("moved", sa.Integer(), nullable=False),
        sa.Column("deactivated", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text()),
        sa.CheckConstraint(
            "workflow IN ('school-details', 'staff', 'learners', 'groups', 'leavers')",
            name=op.f("ck_workflow_runs_workflow"),
        ),
        sa.CheckConstraint(
            "outcome IN ('running', 'succeeded', 'failed', 'held')", name=op.f("ck_workflow_runs_outcome")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_runs")),
    )
    op.create_index(
        "ix_workflow_runs_school_workflow_started", "workflow_runs", ["school", "workflow", "started_at"]
    )
    op.create_index("ix_workflow_runs_started_at", "workflow_runs", ["started_at"])

    op.create_table(
        "workflow_errors",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("run_id", _BigId, nullable=False),
        sa.Column("record", sa.String(128), nullable=False),
        sa.Column("error", sa.String(64), nullable=False),
        sa.Column("field", sa.String(64)),
        sa.Column("detail", sa.Text()),
        sa.ForeignKeyConstraint(
            ["run_id"], ["workflow_runs.id"], ondelete="CASCADE",
            name=op.f("fk_workflow_errors_run_id_workflow_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_errors")),
    )
    op.create_index(op.f("ix_workflow_errors_run_id"), "workflow_errors", ["run_id"])


def downgrade() -> None:
    op.drop_table("workflow_errors")
    op.drop_table("workflow_runs")
    op.drop_table("audit_events")
