"""write path: the tag-codes trigger looks its comments up by key; the tag-copy trigger runs only when needed

- comment_tags_sync_codes (0003), the statement trigger that keeps comments.tag_codes equal to the comment's tags,
  joined its transition table to comments with no usable estimate, and PostgreSQL chose a hash join over a
  sequential scan of the whole comments table: every INSERT/COPY/UPDATE/DELETE on comment_tags read every comment
  (~200 ms per ingest request at 115k comments, growing with the table; the cause of ingest with batches of 100
  running at a third of its earlier rate, benchmarks/RESULTS.md). The ids are now gathered into an array first
  and the comments reached through the primary key (`id = ANY(ids)`): cost by rows changed, not by table size.
- comment_tags_copy_comment (0003, 0009), the row trigger that fills a tag row's copies of its comment's category
  and dates, ran a PL/pgSQL call for every tag row, although ingest and import write those copies themselves.
  A WHEN clause now skips the call when the row carries them (same result: the function only filled NULLs).
- Both trigger functions that reach comments or tags by key are planned on every call
  (`plan_cache_mode = force_custom_plan`): PL/pgSQL caches a generic plan per connection after five calls, and a
  web worker that connected while the tables were small kept planning a whole-table scan once they had grown
  (seen as ingest requests slowing down run after run; tests/integration/test_write_path_plans.py).

Revision ID: a1c0ingest002
Revises: a1c0listing01
Create Date: 2026-12-07 02:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a1c0ingest002'
down_revision = 'a1c0listing01'
branch_labels = None
depends_on = None

SYNC_CODES_FUNCTION = """
    CREATE OR REPLACE FUNCTION comment_tags_sync_codes() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        ids uuid[];
    BEGIN
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
OLD_SYNC_CODES_FUNCTION = """
    CREATE OR REPLACE FUNCTION comment_tags_sync_codes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE comments c SET tag_codes = x.codes
        FROM (
            SELECT ids.comment_id,
                   (SELECT string_agg(t.code, '|' ORDER BY t.position) FROM comment_tags t
                    WHERE t.comment_id = ids.comment_id) AS codes
            FROM (SELECT DISTINCT comment_id FROM changed) ids
        ) x
        WHERE c.id = x.comment_id AND c.tag_codes IS DISTINCT FROM x.codes;
        RETURN NULL;
    END $$"""
COPY_TRIGGER = (
    "CREATE TRIGGER comment_tags_copy_comment BEFORE INSERT OR UPDATE OF comment_id ON comment_tags FOR EACH ROW "
    "WHEN (NEW.category IS NULL OR NEW.occurred_at IS NULL OR NEW.classified_at IS NULL) "
    "EXECUTE FUNCTION comment_tags_copy_comment()"
)
OLD_COPY_TRIGGER = (
    "CREATE TRIGGER comment_tags_copy_comment BEFORE INSERT OR UPDATE OF comment_id ON comment_tags "
    "FOR EACH ROW EXECUTE FUNCTION comment_tags_copy_comment()"
)


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(SYNC_CODES_FUNCTION)
    op.execute("ALTER FUNCTION comments_sync_tags() SET plan_cache_mode = force_custom_plan")
    op.execute("DROP TRIGGER comment_tags_copy_comment ON comment_tags")
    op.execute(COPY_TRIGGER)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER comment_tags_copy_comment ON comment_tags")
    op.execute(OLD_COPY_TRIGGER)
    op.execute("ALTER FUNCTION comments_sync_tags() RESET plan_cache_mode")
    op.execute("ALTER FUNCTION comment_tags_sync_codes() RESET plan_cache_mode")
    op.execute(OLD_SYNC_CODES_FUNCTION)
