"""POST /api/auth/login, /refresh, /logout, /register; GET /api/auth/me."""

from __future__ import annotations

from flask import request
from flask_jwt_extended import current_user, get_jwt, jwt_required

from app.api.base import BaseResource, public, roles_required, token_checked
from app.schemas.auth import LoginIn, RegisterIn, TokenOut, UserOut
from app.schemas.common import parse, read_json_body
from app.services import users
from app.utils.json import json_response


def _user_out(user) -> dict:
    return {"id": user.id, "username": user.username, "role": user.role, "active": user.active}


class Login(BaseResource):
    openapi = {
        "post": {
            "summary": "Entrar (gera tokens de acesso e de renovação); limitado por endereço e por conta",
            "body": LoginIn,
            "response": TokenOut,
            "public": True,
            "errors": [401, 429],
        }
    }

    @public
    def post(self):
        data = parse(LoginIn, read_json_body())
        # remote_addr is the socket peer, or the client named by a trusted proxy (app.security).
        return json_response(users.login(data.username, data.password, request.remote_addr or ""))


class Refresh(BaseResource):
    openapi = {
        "post": {
            "summary": "Novo token de acesso a partir do token de renovação (refresh)",
            "response": TokenOut,
            "auth": "refresh",
        }
    }

    @token_checked
    @jwt_required(refresh=True)
    def post(self):
        return json_response(users.refresh(current_user, get_jwt()))


class Logout(BaseResource):
    openapi = {"post": {"summary": "Revoga o token enviado (e o refresh_token do corpo, se houver)", "auth": "any"}}

    @token_checked
    @jwt_required(verify_type=False)
    def post(self):
        extra = []
        if request.is_json and isinstance(request.get_json(silent=True), dict):
            token = request.get_json(silent=True).get("refresh_token")
            if isinstance(token, str):
                extra.append(token)
        users.revoke(get_jwt(), extra)
        return json_response({"mensagem": "Token revogado."})


class Register(BaseResource):
    openapi = {
        "post": {
            "summary": "Cria usuário (somente admin; não há cadastro aberto)",
            "body": RegisterIn,
            "response": UserOut,
            "status": 201,
            "roles": ["admin"],
            "errors": [409, 422],
        }
    }

    @roles_required()
    def post(self):
        data = parse(RegisterIn, read_json_body())
        user = users.create_user(data.username, data.password, data.role.value)
        return json_response(_user_out(user), 201)


class Me(BaseResource):
    openapi = {"get": {"summary": "Usuário dono do token", "response": UserOut, "auth": "any"}}

    @token_checked
    @jwt_required()
    def get(self):
        return json_response(_user_out(current_user))
