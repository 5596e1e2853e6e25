"""refused upload rows keep their cells sealed

A refused row's cells, as the admin wrote them, sat in plain JSON: passports, birth dates and
SNILS of rows that failed a check were readable by anyone who could read the table. They are
now one sealed blob per row (cells_sealed, AES-256-GCM under the active personal-data key,
its id in pd_key_id), like a registration's personal data, and are opened only to write the
row into the error report.

Rows already stored are sealed here, in batches, with the keys of the environment that runs
the migration (SIMREG_PD_KEYS, SIMREG_PD_ACTIVE_KEY_ID); the downgrade opens them again.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 12:00:00
"""

from collections.abc import Sequence

import orjson
import sqlalchemy as sa
from alembic import op

from app.config import get_settings
from app.core.personal_data import PersonalDataVault

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 10_000


def _vault() -> PersonalDataVault:
    settings = get_settings()
    return PersonalDataVault.from_settings(
        keys=settings.pd_keys, active_key_id=settings.pd_active_key_id, hash_key=settings.pd_hash_key
    )


def _rows(query: str) -> list[sa.Row]:
    return list(op.get_bind().execute(sa.text(query)))


def upgrade() -> None:
    with op.batch_alter_table('upload_rejections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cells_sealed', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('pd_key_id', sa.String(length=32), nullable=True))
    vault = _vault()
    connection = op.get_bind()
    last = 0
    while rows := _rows(
        f"SELECT id, cells FROM upload_rejections WHERE id > {last} ORDER BY id LIMIT {_BATCH}"
    ):
        documents = []
        for _, cells in rows:
            value = orjson.loads(cells) if isinstance(cells, str | bytes) else cells
            documents.append(orjson.dumps({"cells": value}))
        connection.execute(
            sa.text("UPDATE upload_rejections SET cells_sealed = :sealed, pd_key_id = :kid WHERE id = :id"),
            [
                {"id": row_id, "sealed": sealed, "kid": vault.active_key_id}
                for (row_id, _), sealed in zip(rows, vault.seal_many(documents), strict=True)
            ],
        )
        last = rows[-1][0]
    with op.batch_alter_table('upload_rejections', schema=None) as batch_op:
        batch_op.alter_column('cells_sealed', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.alter_column('pd_key_id', existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_column('cells')


def downgrade() -> None:
    with op.batch_alter_table('upload_rejections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cells', sa.JSON(), nullable=True))
    vault = _vault()
    connection = op.get_bind()
    last = 0
    while rows := _rows(
        f"SELECT id, cells_sealed FROM upload_rejections WHERE id > {last} ORDER BY id LIMIT {_BATCH}"
    ):
        connection.execute(
            sa.text("UPDATE upload_rejections SET cells = :cells WHERE id = :id"),
            [
                {"id": row_id, "cells": orjson.dumps(vault.open(bytes(sealed))["cells"]).decode()}
                for row_id, sealed in rows
            ],
        )
        last = rows[-1][0]
    with op.batch_alter_table('upload_rejections', schema=None) as batch_op:
        batch_op.alter_column('cells', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_column('pd_key_id')
        batch_op.drop_column('cells_sealed')
