"""Alembic migrations of Confide's own database: the ledger, the records store, the archive."""
