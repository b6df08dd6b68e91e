"""report rollups: daily and hourly comment cells, hourly tag cells, the change log and its triggers

Revision ID: a1c0rollup001
Revises: a1c0harden001
Create Date: 2026-12-06 22:45:00

Hand-written. The tables start empty: the first report refresh builds them (app/services/report_rollup.py).
PostgreSQL triggers append the UTC hour of every inserted, deleted or report-relevantly updated comment (and tag)
to report_rollup_changes, in the writer's own transaction, whoever writes (ORM, COPY, SQL). They are statement
triggers with transition tables: one INSERT ... SELECT DISTINCT per statement, not one per row, and append-only
(no upsert), so concurrent writers never wait on each other. SQLite gets the tables only: `make run` reads raw rows.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1c0rollup001'
down_revision = 'a1c0harden001'
branch_labels = None
depends_on = None

COMMENT_TRIGGERS = {
    "report_rollup_comments_insert": "INSERT ON comments REFERENCING NEW TABLE AS new_rows",
    "report_rollup_comments_delete": "DELETE ON comments REFERENCING OLD TABLE AS old_rows",
    "report_rollup_comments_update": "UPDATE ON comments REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
}
TAG_TRIGGERS = {
    "report_rollup_tags_insert": "INSERT ON comment_tags REFERENCING NEW TABLE AS new_rows",
    "report_rollup_tags_delete": "DELETE ON comment_tags REFERENCING OLD TABLE AS old_rows",
    "report_rollup_tags_update": "UPDATE ON comment_tags REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
}


def upgrade():
    op.create_table(
        "report_rollup_daily",
        sa.Column("dia", sa.Date(), nullable=False),
        sa.Column("artist_id", sa.Integer(), nullable=False),
        sa.Column("album_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("conf_sum", sa.Float(), nullable=False),
        sa.Column("below", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("dia", "artist_id", "album_id", "category", name=op.f("pk_report_rollup_daily")),
    )
    op.create_table(
        "report_rollup_hourly",
        sa.Column("hora", sa.DateTime(timezone=True), nullable=False),
        sa.Column("artist_id", sa.Integer(), nullable=False),
        sa.Column("album_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("conf_sum", sa.Float(), nullable=False),
        sa.Column("below", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hora", "artist_id", "album_id", "category", name=op.f("pk_report_rollup_hourly")),
    )
    op.create_table(
        "report_rollup_tags_hourly",
        sa.Column("hora", sa.DateTime(timezone=True), nullable=False),
        sa.Column("code", sa.String(length=80), nullable=False),
        sa.Column("artist_id", sa.Integer(), nullable=False),
        sa.Column("album_id", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hora", "code", "artist_id", "album_id", name=op.f("pk_report_rollup_tags_hourly")),
    )
    op.create_table(
        "report_rollup_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hora", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_rollup_changes")),
    )
    with op.batch_alter_table("report_rollup_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_rollup_changes_hora"), ["hora"], unique=False)
    op.create_table(
        "report_rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("open_hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("open_day", sa.Date(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_rollup_state")),
    )

    if op.get_bind().dialect.name != 'postgresql':
        return
    # A comment counts in the hour of occurred_at; an update matters when it moves a comment between cells.
    op.execute(
        """
        CREATE FUNCTION report_rollup_log_comments() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                INSERT INTO report_rollup_changes (hora)
                SELECT DISTINCT date_trunc('hour', occurred_at, 'UTC') FROM new_rows;
            ELSIF TG_OP = 'DELETE' THEN
                INSERT INTO report_rollup_changes (hora)
                SELECT DISTINCT date_trunc('hour', occurred_at, 'UTC') FROM old_rows;
            ELSE
                INSERT INTO report_rollup_changes (hora)
                SELECT DISTINCT date_trunc('hour', moved.at, 'UTC')
                FROM old_rows o JOIN new_rows n ON n.id = o.id,
                     LATERAL (VALUES (o.occurred_at), (n.occurred_at)) AS moved(at)
                WHERE (o.occurred_at, o.category, o.confidence, o.artist_id, o.album_id)
                      IS DISTINCT FROM (n.occurred_at, n.category, n.confidence, n.artist_id, n.album_id);
            END IF;
            RETURN NULL;
        END $$
        """
    )
    # comment_tags carries a copy of its comment's occurred_at (migration 0003's triggers keep it right).
    op.execute(
        """
        CREATE FUNCTION report_rollup_log_tags() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
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
        END $$
        """
    )
    # TRUNCATE fires no row or statement trigger above: forget the state, so the next refresh rebuilds.
    op.execute(
        """
        CREATE FUNCTION report_rollup_reset() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM report_rollup_state;
            RETURN NULL;
        END $$
        """
    )
    for name, spec in COMMENT_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} AFTER {spec} FOR EACH STATEMENT EXECUTE FUNCTION report_rollup_log_comments()")
    for name, spec in TAG_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} AFTER {spec} FOR EACH STATEMENT EXECUTE FUNCTION report_rollup_log_tags()")
    for table in ("comments", "comment_tags"):
        op.execute(
            f"CREATE TRIGGER report_rollup_reset_{table} AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION report_rollup_reset()"
        )


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for name in COMMENT_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON comments")
        for name in TAG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON comment_tags")
        for table in ("comments", "comment_tags"):
            op.execute(f"DROP TRIGGER IF EXISTS report_rollup_reset_{table} ON {table}")
        for function in ("report_rollup_log_comments", "report_rollup_log_tags", "report_rollup_reset"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    op.drop_table("report_rollup_state")
    with op.batch_alter_table("report_rollup_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_rollup_changes_hora"))
    op.drop_table("report_rollup_changes")
    op.drop_table("report_rollup_tags_hourly")
    op.drop_table("report_rollup_hourly")
    op.drop_table("report_rollup_daily")
