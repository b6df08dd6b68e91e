"""write path: the tag-codes trigger skips the statement whose writer stored the codes itself (ingest, import)

comment_tags_sync_codes (0003, 0010) keeps comments.tag_codes equal to the comment's tags after every statement on
comment_tags. Ingest and import already write each new comment's tag_codes in its row, so for their COPY the
trigger found nothing to change, after reading every comment and its tags again (~15 µs of PostgreSQL CPU per
stored comment, benchmarks/RESULTS.md). Such a writer now sets `alumusic.tag_codes_written` for its transaction
just before its tag COPY (app.services.driver_sql.tag_codes_written, since 0013 tags_of_new_comments_next); the
trigger then skips that one INSERT statement on comment_tags and clears the flag, so the statements after it (a
curator's correction, the second opinion) are synced as before.

Revision ID: a1c0ingest004
Revises: a1c0ingest003
Create Date: 2026-12-07 10:30:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a1c0ingest004'
down_revision = 'a1c0ingest003'
branch_labels = None
depends_on = None

# The function of 0010 with the skip in front of it.
SKIP_WHEN_WRITTEN = """
        IF TG_OP = 'INSERT' AND current_setting('alumusic.tag_codes_written', true) = 'on' THEN
            PERFORM set_config('alumusic.tag_codes_written', 'off', true);
            RETURN NULL;
        END IF;"""
SYNC_CODES_FUNCTION = """
    CREATE OR REPLACE FUNCTION comment_tags_sync_codes() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        ids uuid[];
    BEGIN{skip}
        SELECT array_agg(DISTINCT comment_id) INTO ids FROM changed;
        IF ids IS NULL THEN
            RETURN NULL;
        END IF;
        UPDATE comments c SET tag_codes = x.codes
        FROM (
            SELECT ids.id,
                   (SELECT string_agg(t.code, '|' ORDER BY t.position) FROM comment_tags t
                    WHERE t.comment_id = ids.id) AS codes
            FROM unnest(ids) AS ids(id)
        ) x
        WHERE c.id = ANY (ids) AND c.id = x.id AND c.tag_codes IS DISTINCT FROM x.codes;
        RETURN NULL;
    END $$ SET plan_cache_mode = force_custom_plan"""


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(SYNC_CODES_FUNCTION.format(skip=SKIP_WHEN_WRITTEN))


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(SYNC_CODES_FUNCTION.format(skip=""))
