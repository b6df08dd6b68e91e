"""write path: the tag rollup log skips the tag rows of comments the same transaction has just logged (ingest, import)

report_rollup_log_tags (0007) appends the UTC hour of every inserted tag row to report_rollup_changes, so that the
next report refresh refolds that hour. One change log drives both the comment and the tag cells of an hour
(app.services.report_rollup._fold_hours). Ingest and import write the tag rows of the comments they have just
copied, with those comments' occurred_at, in the same transaction, and the comments' own statement trigger has
already logged each of those hours: the tags' log rows were duplicates, one per distinct hour and batch (for a batch
of 100 comments spread over a week, ~60 rows and their two index entries; benchmarks/RESULTS.md).

Such a writer now sets `alumusic.tag_hours_logged` for its transaction just before its tag COPY, with the tag-codes
flag of 0012 (app.services.driver_sql.tags_of_new_comments_next); the trigger then skips that one INSERT statement
and clears the flag, so a tag written afterwards (a curator's correction, the second opinion) is logged as before.

Revision ID: a1c0ingest005
Revises: a1c0ingest004
Create Date: 2026-12-07 13:20:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a1c0ingest005'
down_revision = 'a1c0ingest004'
branch_labels = None
depends_on = None

SKIP_WHEN_LOGGED = """
            IF current_setting('alumusic.tag_hours_logged', true) = 'on' THEN
                PERFORM set_config('alumusic.tag_hours_logged', 'off', true);
                RETURN NULL;
            END IF;"""
# The function of 0007 with the skip in its INSERT branch.
LOG_TAGS_FUNCTION = """
    CREATE OR REPLACE FUNCTION report_rollup_log_tags() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN{skip}
            INSERT INTO report_rollup_changes (hora)
            SELECT DISTINCT date_trunc('hour', occurred_at, 'UTC') FROM new_rows WHERE occurred_at IS NOT NULL;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO report_rollup_changes (hora)
            SELECT DISTINCT date_trunc('hour', occurred_at, 'UTC') FROM old_rows WHERE occurred_at IS NOT NULL;
        ELSE
            INSERT INTO report_rollup_changes (hora)
            SELECT DISTINCT date_trunc('hour', at, 'UTC') FROM (
                SELECT occurred_at FROM old_rows UNION SELECT occurred_at FROM new_rows
            ) AS changed(at) WHERE at IS NOT NULL;
        END IF;
        RETURN NULL;
    END $$"""


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(LOG_TAGS_FUNCTION.format(skip=SKIP_WHEN_LOGGED))


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(LOG_TAGS_FUNCTION.format(skip=""))
