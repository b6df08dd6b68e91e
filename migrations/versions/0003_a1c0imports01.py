"""import jobs (bulk import); comments index for the export order

Revision ID: a1c0imports01
Revises: 09448a58ddef
Create Date: 2026-12-01 22:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1c0imports01'
down_revision = '09448a58ddef'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('import_jobs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('format', sa.String(length=10), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=True),
    sa.Column('payload', sa.LargeBinary(), nullable=True),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('processed', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('existing', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pendente', 'processando', 'concluida', 'falhou')", name=op.f('ck_import_jobs_status_valid')),
    sa.CheckConstraint("format IN ('json', 'csv', 'jsonl')", name=op.f('ck_import_jobs_format_valid')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_import_jobs_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_jobs'))
    )
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_import_jobs_status_heartbeat_at', ['status', 'heartbeat_at'], unique=False)

    # Export/listing default order (-classificado_em, then id) streamed from the index instead of a full sort.
    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.create_index('ix_comments_classified_at_id', ['classified_at', 'id'], unique=False)


    # Tag rows carry their comment's category and date (indexed with the code): "tag + category + period" is one
    # index range. PostgreSQL triggers keep the copies right whoever writes (COPY, ORM, SQL); SQLite does not
    # read them (app.services.queries), so it needs no trigger.
    with op.batch_alter_table('comment_tags', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            "UPDATE comment_tags t SET category = c.category, occurred_at = c.occurred_at "
            "FROM comments c WHERE c.id = t.comment_id"
        )
        op.execute("""
            CREATE FUNCTION comment_tags_copy_comment() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.category IS NULL OR NEW.occurred_at IS NULL THEN
                    SELECT c.category, c.occurred_at INTO NEW.category, NEW.occurred_at
                    FROM comments c WHERE c.id = NEW.comment_id;
                END IF;
                RETURN NEW;
            END $$""")
        op.execute(
            "CREATE TRIGGER comment_tags_copy_comment BEFORE INSERT OR UPDATE OF comment_id ON comment_tags "
            "FOR EACH ROW EXECUTE FUNCTION comment_tags_copy_comment()"
        )
        op.execute("""
            CREATE FUNCTION comments_sync_tags() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE comment_tags SET category = NEW.category, occurred_at = NEW.occurred_at
                WHERE comment_id = NEW.id;
                RETURN NULL;
            END $$""")
        op.execute(
            "CREATE TRIGGER comments_sync_tags AFTER UPDATE OF category, occurred_at ON comments FOR EACH ROW "
            "WHEN (OLD.category IS DISTINCT FROM NEW.category OR OLD.occurred_at IS DISTINCT FROM NEW.occurred_at) "
            "EXECUTE FUNCTION comments_sync_tags()"
        )
    # The comment's tag codes joined by "|" (what the CSV export shows), kept by statement-level triggers on
    # comment_tags: one UPDATE per statement, and none when the writer already stored the right value (ingest).
    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tag_codes', sa.Text(), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            "UPDATE comments c SET tag_codes = t.codes FROM (SELECT comment_id, "
            "string_agg(code, '|' ORDER BY position) AS codes FROM comment_tags GROUP BY comment_id) t "
            "WHERE c.id = t.comment_id"
        )
        op.execute("""
            CREATE FUNCTION comment_tags_sync_codes() RETURNS trigger LANGUAGE plpgsql AS $$
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
            END $$""")
        op.execute(
            "CREATE TRIGGER comment_tags_codes_insert AFTER INSERT ON comment_tags REFERENCING NEW TABLE AS changed "
            "FOR EACH STATEMENT EXECUTE FUNCTION comment_tags_sync_codes()"
        )
        op.execute(
            "CREATE TRIGGER comment_tags_codes_delete AFTER DELETE ON comment_tags REFERENCING OLD TABLE AS changed "
            "FOR EACH STATEMENT EXECUTE FUNCTION comment_tags_sync_codes()"
        )
        op.execute(
            "CREATE TRIGGER comment_tags_codes_update AFTER UPDATE ON comment_tags REFERENCING NEW TABLE AS changed "
            "FOR EACH STATEMENT EXECUTE FUNCTION comment_tags_sync_codes()"
        )
    with op.batch_alter_table('comment_tags', schema=None) as batch_op:
        batch_op.create_index('ix_comment_tags_code_category_occurred_at', ['code', 'category', 'occurred_at', 'comment_id'], unique=False)


def downgrade():
    with op.batch_alter_table('comment_tags', schema=None) as batch_op:
        batch_op.drop_index('ix_comment_tags_code_category_occurred_at')
    if op.get_bind().dialect.name == 'postgresql':
        for name in ('comment_tags_codes_insert', 'comment_tags_codes_delete', 'comment_tags_codes_update'):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON comment_tags")
        op.execute("DROP FUNCTION IF EXISTS comment_tags_sync_codes()")
        op.execute("DROP TRIGGER IF EXISTS comments_sync_tags ON comments")
        op.execute("DROP FUNCTION IF EXISTS comments_sync_tags()")
        op.execute("DROP TRIGGER IF EXISTS comment_tags_copy_comment ON comment_tags")
        op.execute("DROP FUNCTION IF EXISTS comment_tags_copy_comment()")
    with op.batch_alter_table('comment_tags', schema=None) as batch_op:
        batch_op.drop_column('occurred_at')
        batch_op.drop_column('category')
    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.drop_column('tag_codes')

    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.drop_index('ix_comments_classified_at_id')

    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_import_jobs_status_heartbeat_at')

    op.drop_table('import_jobs')
