"""write path: a comment's first answer is its own row until something changes it

Every stored comment used to get a `modelo` row in classification_events at ingest: a copy of the columns the
comment row itself holds (category, confidence, tags, model_version, classified_at), plus its heap tuple, two index
entries (one keyed by a random UUID) and a foreign-key check. Most comments are never corrected nor refined, so
most of those rows repeated their comment forever (~25 µs of PostgreSQL CPU per ingested comment; RESULTS.md).

Now ingest and import write no event on PostgreSQL. The history of an unchanged comment is its row
(app.services.comments.history shows it as the one `modelo` event it used to be), and this trigger keeps that answer
before anything replaces it: the first UPDATE that changes a comment's category, confidence or model_version (a
curator's correction, the e5 second opinion, a bulk action, a hand-written UPDATE) first copies the old values, tags
included (tag_codes), into classification_events as the `modelo` event, dated by the old classified_at, unless the
comment already has events. The application writes its own event for the change as before.

A change of tag_codes alone does not count: tags written after their comment (an ORM writer that adds the comment,
then its tags; a bulk load) reach tag_codes through the tag-codes trigger, and are part of the first answer, not a
change of it. So a writer that changes a comment's tags changes its model_version first (a correction names the
curator, the second opinion adds "+e5") and flushes that UPDATE before touching the tags (correct(), refine()).
Comments stored before this migration keep the events they have.

The lookup runs with enable_seqscan off: ingest leaves the table small or empty for long stretches, and a plan made
from those statistics (and cached by PL/pgSQL for the session) would scan every event of a million-row history on
each correction (tests/integration/test_write_path_plans.py).

downgrade: drops the trigger and writes the missing first events, so older code finds one for every comment.

Revision ID: a1c0ingest006
Revises: a1c0ingest005
Create Date: 2026-12-07 18:00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "a1c0ingest006"
down_revision = "a1c0ingest005"
branch_labels = None
depends_on = None

# The event the comment's row stands for, from a row of comments aliased `c` (the function reads OLD).
FIRST_EVENT_VALUES = (
    "{c}.id, 'modelo', {c}.category, {c}.confidence, "
    "to_json(coalesce(string_to_array({c}.tag_codes, '|'), ARRAY[]::text[])), {c}.model_version, {c}.classified_at"
)
EVENT_COLUMNS = "comment_id, source, category, confidence, tags, model_version, created_at"

KEEP_FUNCTION = f"""
    CREATE OR REPLACE FUNCTION comments_keep_first_answer() RETURNS trigger LANGUAGE plpgsql
    SET enable_seqscan = off AS $$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM classification_events e WHERE e.comment_id = OLD.id) THEN
            INSERT INTO classification_events ({EVENT_COLUMNS})
            VALUES ({FIRST_EVENT_VALUES.format(c="OLD")});
        END IF;
        RETURN NEW;
    END $$"""
KEEP_TRIGGER = """
    CREATE TRIGGER comments_keep_first_answer
    BEFORE UPDATE OF category, confidence, model_version ON comments FOR EACH ROW
    WHEN ((OLD.category, OLD.confidence, OLD.model_version) IS DISTINCT FROM (NEW.category, NEW.confidence, NEW.model_version))
    EXECUTE FUNCTION comments_keep_first_answer()"""


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return  # other databases (SQLite: make run) keep writing the first event at ingest
    op.execute(KEEP_FUNCTION)
    op.execute(KEEP_TRIGGER)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS comments_keep_first_answer ON comments")
    op.execute("DROP FUNCTION IF EXISTS comments_keep_first_answer()")
    op.execute("SET LOCAL statement_timeout = 0")
    op.execute(
        f"INSERT INTO classification_events ({EVENT_COLUMNS}) "
        f"SELECT {FIRST_EVENT_VALUES.format(c='c')} FROM comments c "
        "WHERE NOT EXISTS (SELECT 1 FROM classification_events e WHERE e.comment_id = c.id)"
    )
