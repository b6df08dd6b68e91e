"""import jobs (bulk import)

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
    pass


def downgrade():
    pass
