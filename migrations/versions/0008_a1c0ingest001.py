"""write path: drop the two comments indexes no query reads (ingest and import pay for them on every row)

- ix_comments_text_trgm (0001): a trigram GIN index on the raw text. Text search compares folded text since 0004
  (app.services.queries.text_matches -> ix_comments_text_unaccent_trgm), so nothing reads it, and keeping a GIN
  index current was ~40% of PostgreSQL's CPU per stored comment at 1M rows (benchmarks/RESULTS.md).
- ix_comments_classified_at: a prefix of ix_comments_classified_at_id (0003), which serves every query it served.

Revision ID: a1c0ingest001
Revises: a1c0rollup001
Create Date: 2026-12-06 23:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a1c0ingest001'
down_revision = 'a1c0rollup001'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_comments_text_trgm")
    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.drop_index('ix_comments_classified_at')


def downgrade():
    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.create_index('ix_comments_classified_at', ['classified_at'], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX IF NOT EXISTS ix_comments_text_trgm ON comments USING gin (text gin_trgm_ops)")
