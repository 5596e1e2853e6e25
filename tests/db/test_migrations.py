"""The schema is built only by migrations, and the models agree with them."""

from __future__ import annotations

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Connection, create_engine, inspect, text

from app.db.migrations import alembic_config, current_revision, schema_drift, upgrade_to_head
from tests.builders import make_company_with_numbers


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
        self, connection: Connection
    ) -> None:
        definition = connection.scalar(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
            {"name": "ix_registrations_doc_hash"},
        )
        assert "USING hash (doc_hash)" in str(definition)

    @pytest.mark.postgres_only
    def test_numbers_indexes_hold_nothing_a_move_changes_and_pages_keep_room(
        self, connection: Connection
    ) -> None:
        # A move (new status, new user) is then a HOT update (migration 0017).
        indexed = connection.execute(
            text(
                "SELECT i.relname, array_agg(a.attname ORDER BY k.n), i.reloptions,"
                " x.indpred IS NOT NULL"
                " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
                " CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)"
                " JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum"
                " WHERE x.indrelid = CAST('numbers' AS regclass)"
                " GROUP BY i.relname, i.reloptions, x.indpred IS NOT NULL"
            )
        ).all()
        assert sorted(tuple(row) for row in indexed) == [
            ("ix_numbers_subscriber_id", ["subscriber_id", "id"], None, False),
            ("pk_numbers", ["id"], ["fillfactor=50"], False),
            ("uq_numbers_msisdn_in_registry", ["msisdn"], ["fillfactor=50"], True),
            ("uq_numbers_msisdn_operator_id", ["msisdn", "operator_id"], ["fillfactor=50"], False),
        ]
        table = connection.scalar(text("SELECT reloptions FROM pg_class WHERE relname = 'numbers'"))
        assert table == ["fillfactor=50"]


class TestOneOperatorPerMsisdnMigration:
    """0020 builds the unique index of msisdns in the registry; a registry where two operators
    hold one msisdn is refused, naming it, and upgrades once one of the numbers has left."""

    def test_a_msisdn_held_twice_is_named_and_the_upgrade_waits_for_it(
        self, database_url: str, client: TestClient
    ) -> None:
        first = make_company_with_numbers(client, count=1)["numbers"][0]
        second = make_company_with_numbers(client, count=1)["numbers"][0]
        config = alembic_config(database_url)
        command.downgrade(config, "0018")
        engine = create_engine(database_url)
        try:
            with engine.begin() as conn:
                conn.execute(
                    text("UPDATE numbers SET msisdn = :m WHERE id = :id"),
                    {"m": first["msisdn"], "id": second["id"]},
                )
            with pytest.raises(RuntimeError, match=r"1 msisdn\(s\) are held by two operators"):
                upgrade_to_head(database_url)
            assert current_revision(database_url) == "0018"

            with engine.begin() as conn:
                conn.execute(
                    text("UPDATE numbers SET status = 'terminated' WHERE id = :id"),
                    {"id": second["id"]},
                )
            upgrade_to_head(database_url)
            with engine.connect() as conn:
                left = dict(conn.execute(text("SELECT id, left_registry FROM numbers")).all())
        finally:
            engine.dispose()
        assert schema_drift(database_url) == []
        assert left == {first["id"]: False, second["id"]: True}
