"""Per-transaction database limits: API requests run under DB_STATEMENT_TIMEOUT_MS (set per connection in
app.config.engine_options); long work (CSV export, bulk import, report aggregation) lengthens it for its own
transaction only, so one slow reader can never pin a backend for longer than its role of work allows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy import text

from app.extensions import db


def set_statement_timeout(milliseconds: int) -> None:
    """statement_timeout for the rest of the current transaction (PostgreSQL; a no-op elsewhere)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text(f"SET LOCAL statement_timeout = {int(milliseconds)}"))


@contextmanager
def long_statements(milliseconds: int | None = None) -> Iterator[None]:
    """Inside: the current transaction may run statements up to DB_LONG_STATEMENT_TIMEOUT_MS (or `milliseconds`).

    SET LOCAL ends with the transaction, so the connection goes back to the pool with the API's limit.
    """
    set_statement_timeout(milliseconds or current_app.config["DB_LONG_STATEMENT_TIMEOUT_MS"])
    yield
