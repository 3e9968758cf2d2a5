"""Every table of Confide's own database in one MetaData, for Alembic to compare against.

The tables are defined beside the code that uses them (ledger, records store, chain, archive);
their shape in a real database is made by the migrations under infra/migrations, and a test
checks that the two agree.
"""

from __future__ import annotations

from sqlalchemy import MetaData


def all_metadata() -> MetaData:
    """One MetaData holding a copy of every Confide table."""
    from infra import archive_db, fhir_writes, hash_chain, ledger_db, records_db, sent_log

    combined = MetaData()
    for source in (
        ledger_db.metadata,
        records_db.metadata,
        hash_chain.metadata,
        archive_db.metadata,
        sent_log.metadata,
        fhir_writes.metadata,
    ):
        for table in source.tables.values():
            table.to_metadata(combined)
    return combined
