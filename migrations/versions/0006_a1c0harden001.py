"""hardening

Revision ID: a1c0harden001
Revises: a1c0summary01
Create Date: 2026-12-01 22:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1c0harden001'
down_revision = 'a1c0summary01'
branch_labels = None
depends_on = None


def upgrade():
    # Usernames that differ only by case are one account. Existing names are lower-cased first (the API and the
    # CLI write them lower-cased from now on); a clash between two existing accounts stops the upgrade loudly.
    op.execute("UPDATE users SET username = lower(username) WHERE username <> lower(username)")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("uq_users_username_lower", [sa.text("lower(username)")], unique=True)

    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_throttle_expires_at"), ["expires_at"], unique=False)


def downgrade():
    with op.batch_alter_table("login_throttle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_throttle_expires_at"))
    op.drop_table("login_throttle")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("uq_users_username_lower")
