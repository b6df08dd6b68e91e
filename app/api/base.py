"""BaseResource, role checks and pagination shared by every API resource."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from flask import request
from flask_jwt_extended import current_user, get_jwt, verify_jwt_in_request
from flask_restful import Resource

from app.errors import Forbidden, ValidationFailed
from app.models.user import Role


def roles_required(*roles: Role, refresh: bool = False) -> Callable:
    """Require a valid token whose role is one of `roles` (admin is always allowed)."""
    allowed = {r.value for r in roles} | {Role.ADMIN.value}

    def decorator(fn: Callable) -> Callable:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            verify_jwt_in_request(refresh=refresh)
            if get_jwt().get("role") not in allowed or current_user.role not in allowed:
                raise Forbidden()
            return fn(*args, **kwargs)

        wrapper.roles = tuple(sorted(allowed))  # type: ignore[attr-defined]  # read by the OpenAPI builder
        return wrapper

    return decorator


ALL_READERS = (Role.LEITOR, Role.CURADOR)


def public(fn: Callable) -> Callable:
    """Mark a resource method as reachable without a token (the only way to opt out of BaseResource's check)."""
    fn.public = True  # type: ignore[attr-defined]
    return fn


def token_checked(fn: Callable) -> Callable:
    """Mark a method that verifies its token itself (e.g. `@jwt_required(refresh=True)`), so BaseResource does
    not demand an admin access token on top."""
    fn.token_checked = True  # type: ignore[attr-defined]
    return fn


def _guarded(fn: Callable) -> bool:
    return bool(getattr(fn, "roles", None) or getattr(fn, "public", False) or getattr(fn, "token_checked", False))


class BaseResource(Resource):
    """Resources are thin: validate with a schema, call a service, serialise, return.

    Secure by default: a method that is neither `@public`, `@token_checked` nor `@roles_required(...)` needs an
    admin access token, so a new endpoint is never public by accident.
    """

    # OpenAPI metadata per method, read by app.openapi: {"get": {"summary": ..., "query": Model, ...}}.
    openapi: dict[str, dict[str, Any]] = {}

    def dispatch_request(self, *args: Any, **kwargs: Any) -> Any:
        meth = getattr(self, request.method.lower(), None)
        if meth is None and request.method == "HEAD":
            meth = getattr(self, "get", None)
        if meth is not None and not _guarded(meth):
            roles_required()(lambda: None)()
        return super().dispatch_request(*args, **kwargs)


def query_args(multi: Iterable[str] = (), comma_separated: Iterable[str] = ()) -> dict[str, Any]:
    """request.args as a dict; `multi` keys become lists of their repeated values, and `comma_separated` ones
    are also split on commas (for values that can never hold a comma, such as categories)."""
    out: dict[str, Any] = {}
    for key in request.args:
        # Pagination is read apart; "_"-prefixed keys are cache-busters BI tools add (e.g. `_=1732...`).
        if key in ("page", "per_page") or key.startswith("_"):
            continue
        values = request.args.getlist(key)
        if key in comma_separated and any(v.strip() for v in values):
            out[key] = [v.strip() for raw in values for v in raw.split(",") if v.strip()]
        elif key in multi or key in comma_separated:
            out[key] = values
        else:
            # A single-valued parameter sent twice is passed on as a list, so the schema refuses it (422) rather
            # than silently picking one of the values.
            out[key] = values[0] if len(values) == 1 else values
    return out


# The deepest page a listing serves: OFFSET (page x per_page) stays far inside PostgreSQL's bigint.
MAX_PAGE = 1_000_000


def page_params(default: int, maximum: int) -> tuple[int, int]:
    def as_int(name: str, fallback: int) -> int:
        values = request.args.getlist(name)
        if not values:
            return fallback
        if len(values) > 1:
            raise ValidationFailed(details=[{"campo": name, "mensagem": "informe um único valor"}])
        raw = values[0]
        raw = raw.strip()
        # Digits only (with an optional sign) and short: int() would also take "1_000" or a 4,000-digit number.
        if not raw.lstrip("+-").isdigit() or not raw.isascii() or len(raw) > 12:
            raise ValidationFailed(details=[{"campo": name, "mensagem": "deve ser um número inteiro"}])
        return int(raw)

    page, per_page = as_int("page", 1), as_int("per_page", default)
    errors = []
    if not 1 <= page <= MAX_PAGE:
        errors.append({"campo": "page", "mensagem": f"deve estar entre 1 e {MAX_PAGE}"})
    if not 1 <= per_page <= maximum:
        errors.append({"campo": "per_page", "mensagem": f"deve estar entre 1 e {maximum}"})
    if errors:
        raise ValidationFailed(details=errors)
    return page, per_page


def link_header(page: int, per_page: int, total: int) -> str:
    """RFC 8288 Link header with first/prev/next/last, keeping the other query parameters."""
    last = max(1, -(-total // per_page))
    base = {k: v for k, v in request.args.items(multi=True) if k not in ("page", "per_page")}

    def url(p: int) -> str:
        params = [*base.items(), ("page", p), ("per_page", per_page)]
        return f"<{request.base_url}?{urlencode(params)}>"

    links = [f'{url(1)}; rel="first"']
    if page > 1:
        links.append(f'{url(min(page - 1, last))}; rel="prev"')
    if page < last:
        links.append(f'{url(page + 1)}; rel="next"')
    links.append(f'{url(last)}; rel="last"')
    return ", ".join(links)
