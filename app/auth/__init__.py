"""Authentication: API tokens (`jwt.py`, Flask-JWT-Extended) and, for the curator pages, sessions (`session.py`)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the token callbacks (importing the module registers them on the JWTManager) and the panel's
    session login."""
    from app.auth import (
        jwt,  # noqa: F401
        session,
    )

    session.init_app(app)
