"""The one error envelope, asserted the same way by every test file that checks errors."""

from __future__ import annotations


def assert_envelope(resp, status: int, codigo: str | None = None) -> dict:
    """The response is {"erro": {"codigo", "mensagem", "detalhes"}} in JSON with this status (and code)."""
    body = resp.get_json(silent=True) if hasattr(resp, "get_json") else resp.json()
    text = resp.get_data(as_text=True) if hasattr(resp, "get_data") else resp.text
    assert resp.status_code == status, text
    assert body is not None and list(body) == ["erro"], text
    assert list(body["erro"]) == ["codigo", "mensagem", "detalhes"], text
    assert isinstance(body["erro"]["mensagem"], str) and body["erro"]["mensagem"]
    if codigo is not None:
        assert body["erro"]["codigo"] == codigo, text
    return body["erro"]
