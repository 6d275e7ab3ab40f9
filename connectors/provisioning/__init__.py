"""Reconciliation of MIS exports with the directory: plan (pure), hold or apply, record."""
