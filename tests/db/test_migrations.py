"""The schema is built only by migrations, and the models agree with them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Connection, create_engine, inspect, text

from app.db.migrations import alembic_config, current_revision, schema_drift, upgrade_to_head


@pytest.fixture
def catalog(database_url: str) -> Iterator[Connection]:
    """A connection to read the migrated schema's catalog."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


class TestMigrations:
    def test_models_and_migrations_do_not_drift(self, database_url: str) -> None:
        assert schema_drift(database_url) == []

    def test_database_is_at_head(self, database_url: str) -> None:
        assert current_revision(database_url) is not None

    def test_downgrade_to_base_and_back(self, database_url: str) -> None:
        config = alembic_config(database_url)
        command.downgrade(config, "base")
        engine = create_engine(database_url)
        assert "numbers" not in inspect(engine).get_table_names()
        engine.dispose()
        upgrade_to_head(database_url)
        assert schema_drift(database_url) == []

    @pytest.mark.postgres_only
    def test_registrations_are_found_by_document_through_a_hash_index(
        self, catalog: Connection
    ) -> None:
        definition = catalog.scalar(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
            {"name": "ix_registrations_doc_hash"},
        )
        assert "USING hash (doc_hash)" in str(definition)

    @pytest.mark.postgres_only
    def test_numbers_indexes_a_move_leaves_unchanged_keep_half_of_each_leaf_free(
        self, catalog: Connection
    ) -> None:
        options = dict(
            catalog.execute(
                text(
                    "SELECT relname, reloptions FROM pg_class"
                    " WHERE relname IN ('pk_numbers', 'uq_numbers_msisdn_operator_id',"
                    " 'ix_numbers_deadline_stale', 'ix_numbers_subscriber_status')"
                )
            ).all()
        )
        assert options == {
            "pk_numbers": ["fillfactor=50"],
            "uq_numbers_msisdn_operator_id": ["fillfactor=50"],
            "ix_numbers_deadline_stale": ["fillfactor=50"],
            # Its key holds the status, which a move changes: the new entry goes elsewhere.
            "ix_numbers_subscriber_status": None,
        }
