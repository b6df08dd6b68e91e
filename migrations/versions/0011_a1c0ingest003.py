"""write path: the curator-events index covers curator events only (ingest wrote an entry per comment into it)

ix_classification_events_source_created_at indexed every event, so every ingested or imported comment added an
entry for its `modelo` event, which no query reads: the index only serves the panel's counts of curator
corrections (reviewed today, by me, corrections for the next retraining). A partial index over `source = 'curador'`
serves the same queries (written with the value as a literal, app.services.curation.BY_CURATOR, so that every plan
can use it) and costs ingest nothing: one B-tree insert less per stored comment.

Revision ID: a1c0ingest003
Revises: a1c0ingest002
Create Date: 2026-12-07 06:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a1c0ingest003'
down_revision = 'a1c0ingest002'
branch_labels = None
depends_on = None

CURATOR_ONLY = sa.text("source = 'curador'")


def upgrade():
    with op.batch_alter_table('classification_events', schema=None) as batch_op:
        batch_op.drop_index('ix_classification_events_source_created_at')
        batch_op.create_index(
            'ix_classification_events_curator_created_at',
            ['created_at', 'user_id', 'comment_id'],
            unique=False,
            postgresql_where=CURATOR_ONLY,
            sqlite_where=CURATOR_ONLY,
        )


def downgrade():
    with op.batch_alter_table('classification_events', schema=None) as batch_op:
        batch_op.drop_index('ix_classification_events_curator_created_at')
        batch_op.create_index('ix_classification_events_source_created_at', ['source', 'created_at'], unique=False)
