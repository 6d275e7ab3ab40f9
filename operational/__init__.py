"""The operational store (SQLAlchemy): audit log, workflow runs, job state.

Not the system of record for accounts (that is LDAP): this is what Porth
did and when. SQLite is the embedded default, PostgreSQL the production
engine; the schema is created and evolved by Alembic migrations only.
"""
