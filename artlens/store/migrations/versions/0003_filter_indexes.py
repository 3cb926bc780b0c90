"""filter_indexes: every metadata value in `meta_values` (column, value, artwork), and indexes on predictions
(model, label) and detections (kind, count), so that filters and the list of columns read indexes instead of
every artwork's row: on 1M works in PostgreSQL a filter took 60-290 ms to list its first 10,001 works, and the
list of columns (asked before every filtered search) 0.55 s.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CHUNK = 20_000  # artworks read and rewritten at a time


def upgrade() -> None:
    # The rows new works get (one per metadata value, its first META_VALUE_CHARS characters): a later change to
    # that function must keep this revision's rows, or copy today's version here.
    from artlens.store.catalog import meta_value_rows

    op.create_table(
        "meta_values",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("artwork_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["artwork_id"], ["artworks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("name", "value", "artwork_id"),
    )
    op.create_index("ix_meta_values_artwork", "meta_values", ["artwork_id", "name", "value"])
    # A catalog whose detections table was made by the code's create_all (migrate.upgrade) has its index already.
    op.create_index("ix_detections_kind_count", "detections", ["kind", "count", "artwork_id"], if_not_exists=True)
    op.create_index("ix_predictions_model_label", "predictions", ["model", "label", "artwork_id"], if_not_exists=True)
    conn = op.get_bind()
    artworks = sa.table("artworks", sa.column("id", sa.Integer), sa.column("meta", sa.JSON))
    meta_values = sa.table("meta_values", sa.column("name", sa.Text), sa.column("value", sa.Text), sa.column("artwork_id", sa.Integer))
    last = -1
    while True:
        rows = conn.execute(sa.select(artworks.c.id, artworks.c.meta).where(artworks.c.id > last).order_by(artworks.c.id).limit(CHUNK)).all()
        if not rows:
            break
        values = meta_value_rows((r.id, r.meta) for r in rows)
        if values:
            conn.execute(sa.insert(meta_values), values)
        last = rows[-1].id


def downgrade() -> None:
    op.drop_index("ix_predictions_model_label", "predictions")
    op.drop_index("ix_detections_kind_count", "detections")
    op.drop_index("ix_meta_values_artwork", "meta_values")
    op.drop_table("meta_values")
