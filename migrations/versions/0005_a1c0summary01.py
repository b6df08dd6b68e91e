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
    pass


def downgrade():
    pass
