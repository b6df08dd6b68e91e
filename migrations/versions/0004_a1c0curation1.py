"""curator panel: login events

Revision ID: a1c0curation1
Revises: a1c0imports01
Create Date: 2026-12-01 22:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1c0curation1'
down_revision = 'a1c0imports01'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
