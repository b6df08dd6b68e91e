"""weekly summaries, send log, stakeholders

Revision ID: a1c0summary01
Revises: a1c0curation1
Create Date: 2026-12-01 22:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1c0summary01'
down_revision = 'a1c0curation1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'resumos_semanais',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('week', sa.String(length=8), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=False),
        sa.Column('ends_on', sa.Date(), nullable=False),
        sa.Column('aggregate', sa.JSON(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('generator', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_resumos_semanais')),
        sa.UniqueConstraint('week', name=op.f('uq_resumos_semanais_week')),
    )
    op.create_table(
        'resumos_envios',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('summary_id', sa.Integer(), nullable=False),
        sa.Column('recipient', sa.String(length=320), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('message_id', sa.String(length=300), nullable=True),
        sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('forced', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('pendente', 'enviando', 'enviado', 'falhou')", name=op.f('ck_resumos_envios_state_valid')
        ),
        sa.ForeignKeyConstraint(
            ['summary_id'], ['resumos_semanais.id'],
            name=op.f('fk_resumos_envios_summary_id_resumos_semanais'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_resumos_envios')),
        sa.UniqueConstraint('summary_id', 'recipient', name='uq_resumos_envios_summary_recipient'),
    )
    with op.batch_alter_table('resumos_envios', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_resumos_envios_summary_id'), ['summary_id'], unique=False)
    op.create_table(
        'stakeholders',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_stakeholders')),
        sa.UniqueConstraint('email', name=op.f('uq_stakeholders_email')),
    )


def downgrade():
    op.drop_table('stakeholders')
    with op.batch_alter_table('resumos_envios', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_resumos_envios_summary_id'))
    op.drop_table('resumos_envios')
    op.drop_table('resumos_semanais')
