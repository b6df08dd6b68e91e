"""The curator panel (/curadoria): server-rendered pages over the same services as the API.

Thin views: read the form or the URL, call a service (app.services.curation, app.services.comments), render.
Every response carries a strict Content-Security-Policy: no inline script or style, assets from our own static
files only.
"""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    has_request_context,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from markupsafe import Markup, escape
from pydantic import ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import TooManyRequests

from app.auth.session import (
    CORRECTOR_ROLES,
    GENERIC_FAILURE,
    client_address,
    log_in,
    log_out,
    panel_login_required,
    redirect_after_login,
    safe_next,
)
from app.classifier.base import CATEGORIES
from app.classifier.taxonomy import explain, known_codes
from app.errors import AppError, Forbidden, NotFound, Unauthorized, ValidationFailed, validation_details
from app.extensions import limiter
from app.forms.curation import ActionForm, BulkForm, CorrectionForm, LoginForm, ReviewForm
from app.models.comment import TARGETS
from app.models.user import Role
from app.schemas.comments import ORDERINGS, CommentFilters, CorrectionIn
from app.services import comments, curation
from app.services.exports import stream_csv
from app.services.queries import Cursor, fold

bp = Blueprint("curation", __name__, url_prefix="/curadoria")

CSP = "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'"
PAGE_SIZES = (25, 50, 100)
FILTER_KEYS = tuple(CommentFilters.model_fields)
MULTI_KEYS = ("categoria", "tag")
LOCAL_TZ = ZoneInfo("America/Sao_Paulo")
ORDER_LABELS = {
    "classificado_em": "classificação",
    "publicado_em": "data",
    "confianca": "confiança",
    "criado_em": "recebimento",
}


@bp.after_request
def _panel_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")  # pages show private data
    return response


# --- Template helpers ----------------------------------------------------------------------------------------


@bp.app_template_filter("destaque")
def highlight(text: str, query: str | None) -> Markup:
    """`text` escaped, with every accent- and case-insensitive occurrence of `query` wrapped in <mark>."""
    if not query or not fold(query):
        return escape(text)
    needle = fold(query)
    folded_chars: list[str] = []
    owner: list[int] = []  # for each folded character, the index of the original character it came from
    for i, ch in enumerate(text):
        piece = fold(ch) if not unicodedata.combining(ch) else ""
        folded_chars.append(piece)
        owner.extend([i] * len(piece))
    haystack = "".join(folded_chars)
    spans: list[tuple[int, int]] = []
    start = haystack.find(needle)
    while start != -1:
        spans.append((owner[start], owner[start + len(needle) - 1] + 1))
        start = haystack.find(needle, start + len(needle))
    out, last = [], 0
    for begin, end in spans:
        if begin < last:
            continue
        out.append(escape(text[last:begin]))
        out.append(Markup("<mark>") + escape(text[begin:end]) + Markup("</mark>"))
        last = end
    out.append(escape(text[last:]))
    return Markup("").join(out)


@bp.app_template_filter("data_br")
def local_datetime(value: datetime | None) -> str:
    return value.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M") if value else "—"


@bp.app_template_filter("pct")
def percent(value: float | None) -> str:
    return f"{value * 100:.0f}%" if value is not None else "—"


@bp.app_context_processor
def _panel_globals() -> dict[str, Any]:
    # App-wide, so it also runs for templates rendered outside a request (the weekly e-mail): no user there.
    user = current_user if has_request_context() else None
    authenticated = bool(user is not None and user.is_authenticated)
    return {
        "pode_corrigir": authenticated and user.role in CORRECTOR_ROLES,
        "e_admin": authenticated and user.role == Role.ADMIN.value,
        "acao_form": ActionForm,
    }


# --- Errors as panel pages -----------------------------------------------------------------------------------


def _error_page(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("curadoria/erro.html", status=status, titulo=title, mensagem=message), status


@bp.errorhandler(CSRFError)
def _csrf_failed(exc: CSRFError):
    return _error_page(
        400,
        "Formulário expirado",
        "Este formulário não tem um token de segurança válido (ele pode ter expirado). Volte, recarregue a página "
        "e tente de novo.",
    )


@bp.errorhandler(TooManyRequests)
def _too_many(exc: TooManyRequests):
    return _error_page(429, "Muitas tentativas", "Muitas tentativas em pouco tempo. Aguarde um minuto e tente de novo.")


@bp.errorhandler(AppError)
def _app_error(exc: AppError):
    titles = {403: "Acesso negado", 404: "Não encontrado", 422: "Dados inválidos", 429: "Muitas tentativas",
              503: "Serviço indisponível"}  # fmt: skip
    body, status = _error_page(exc.status, titles.get(exc.status, "Erro"), exc.message)
    return body, status, exc.headers or {}


# --- Login / logout ------------------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Throttled in `log_in` (per address, per account on an address, per account), in the database."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect_after_login("curation.comments_list")
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"), "")
    status = 200
    if form.validate_on_submit():
        try:
            log_in(form.username.data or "", form.password.data or "")
        except (Unauthorized, Forbidden) as exc:
            form.password.errors = [exc.message if isinstance(exc, Forbidden) else GENERIC_FAILURE]
            status = 401 if isinstance(exc, Unauthorized) else 403
        else:
            return redirect_after_login("curation.comments_list")
    elif request.method == "POST":
        status = 422
    return render_template("curadoria/login.html", form=form), status


@bp.post("/sair")
@panel_login_required()
def logout():
    if ActionForm().validate_on_submit():
        log_out()
        flash("Você saiu do painel.", "info")
    return redirect(url_for("curation.login"))


# --- The comments table --------------------------------------------------------------------------------------


def read_filters(args: MultiDict[str, str]) -> tuple[CommentFilters, list[dict[str, Any]]]:
    """The filters in the URL (empty fields ignored), or no filters and the validation errors to show."""
    data: dict[str, Any] = {}
    for key in FILTER_KEYS:
        values = [v.strip() for raw in args.getlist(key) for v in raw.split(",")] if key in MULTI_KEYS else None
        if values is not None:
            if any(values):
                data[key] = [v for v in values if v]
        elif (args.get(key) or "").strip():
            data[key] = args[key].strip()
    try:
        return CommentFilters.model_validate(data), []
    except ValidationError as exc:
        return CommentFilters(), validation_details(exc)


def filter_query(filters: CommentFilters) -> list[tuple[str, str]]:
    """The filters as URL parameters (what makes a filtered view a link)."""
    params: list[tuple[str, str]] = []
    for key, value in filters.model_dump(exclude_defaults=True).items():
        for item in value if isinstance(value, list) else [value]:
            params.append((key, item.isoformat() if hasattr(item, "isoformat") else str(item)))
    return params


def _page_size() -> int:
    try:
        size = int(request.args.get("tamanho", PAGE_SIZES[0]))
    except ValueError:
        return PAGE_SIZES[0]
    return size if size in PAGE_SIZES else PAGE_SIZES[0]


@bp.get("")
@panel_login_required()
def comments_list():
    return _render_list()


@bp.get("/")
def comments_list_slash():
    """`/curadoria/` is where people type the panel's address; send them to the list with their filters kept."""
    query = request.query_string.decode("utf-8", "replace")
    return redirect(url_for(".comments_list") + (f"?{query}" if query else ""), 308)


def _render_list():
    filters, errors = read_filters(request.args)
    size = _page_size()
    after = Cursor.decode(request.args["apos"], filters.ordenar) if request.args.get("apos") else None
    before = Cursor.decode(request.args["antes"], filters.ordenar) if request.args.get("antes") else None
    page = curation.comments_page(filters, size, after=after, before=before)
    try:
        number = max(1, int(request.args.get("pagina", "1")))
    except ValueError:
        number = 1
    params = filter_query(filters)
    base = [*params, ("tamanho", str(size))] if size != PAGE_SIZES[0] else params

    def link(**extra: Any) -> str:
        return url_for("curation.comments_list") + "?" + urlencode([*base, *extra.items()])

    def sort_link(key: str) -> str:
        current = filters.ordenar
        target = key if current == "-" + key else "-" + key
        kept = [(k, v) for k, v in base if k != "ordenar"]
        return url_for("curation.comments_list") + "?" + urlencode([*kept, ("ordenar", target)])

    form = BulkForm(formdata=None)
    form.filtro.data = urlencode(params)
    return render_template(
        "curadoria/lista.html",
        page=page,
        filters=filters,
        errors=errors,
        size=size,
        page_sizes=PAGE_SIZES,
        number=number,
        next_url=link(apos=page.next_cursor, pagina=number + 1) if page.next_cursor else None,
        prev_url=link(antes=page.prev_cursor, pagina=number - 1) if page.prev_cursor else None,
        first_url=link() if number > 1 or after or before else None,
        export_url=url_for("curation.export") + ("?" + urlencode(params) if params else ""),
        sort_link=sort_link,
        orderings={key: ORDER_LABELS.get(key, key) for key in ORDERINGS},
        categories=CATEGORIES,
        targets=TARGETS,
        tag_codes=sorted(known_codes()),
        artists=curation.artist_names(),
        bulk_form=form,
        query=filters.q,
    )


@bp.get("/exportar")
@panel_login_required()
def export():
    filters, errors = read_filters(request.args)
    if errors:
        raise ValidationFailed("Filtros inválidos: corrija-os na lista antes de exportar.")
    stamp = datetime.now(LOCAL_TZ).strftime("%Y%m%d-%H%M")
    return Response(
        stream_with_context(stream_csv(filters, bom=request.args.get("bom") == "1")),
        mimetype="text/csv",
        content_type="text/csv; charset=utf-8",
        # X-Accel-Buffering: NGINX passes the rows on as they come instead of spooling the whole file first.
        headers={"Content-Disposition": f'attachment; filename="comentarios-{stamp}.csv"', "X-Accel-Buffering": "no"},
    )


def _bulk_limit() -> str:
    return current_app.config["PANEL_BULK_RATE_LIMIT"]


def _user_key() -> str:
    return f"painel-lote:{current_user.get_id() if current_user.is_authenticated else client_address()}"


@bp.post("/lote")
@panel_login_required(*CORRECTOR_ROLES)
@limiter.limit(_bulk_limit, key_func=_user_key)
def bulk():
    form = BulkForm()
    filters, errors = read_filters(MultiDict(_parse_qs(form.filtro.data or "")))
    back = url_for("curation.comments_list") + ("?" + form.filtro.data if form.filtro.data else "")
    if not form.validate_on_submit() or errors:
        flash("Escolha a nova categoria e os comentários.", "erro")
        return redirect(back)
    if form.todos.data:
        maximum = current_app.config["PANEL_BULK_MAX"]
        ids = curation.matching_ids(filters, maximum + 1)
        if not form.confirmar.data:
            return render_template("curadoria/lote_confirmar.html", form=form, total=len(ids), maximo=maximum)
    else:
        ids = [_uuid(v) for v in form.ids.data or []]
    changed = curation.bulk_correct(ids, form.categoria.data, form.motivo.data, current_user)
    flash(f"{changed} comentário(s) agora em {form.categoria.data}.", "info")
    return redirect(back)


def _parse_qs(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=False)


# --- One comment ---------------------------------------------------------------------------------------------


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("Comentário não encontrado.") from None


def _correction_form(comment: Any, formdata: Any = None) -> CorrectionForm:
    form = CorrectionForm(formdata=formdata)
    form.tags.choices = [(c, f"{c} — {explain(c)}") for c in sorted(known_codes())]
    if formdata is None:
        form.categoria.data = comment.category
        form.tags.data = [t.code for t in comment.tags]
    return form


@bp.get("/comentarios/<comment_id>")
@panel_login_required()
def comment_detail(comment_id: str):
    comment = comments.get(_uuid(comment_id))
    return _render_detail(comment, _correction_form(comment))


def _render_detail(comment: Any, form: CorrectionForm, status: int = 200):
    events = comments.history(comment.id)
    previous = [None, *[e["categoria"] for e in events[:-1]]]
    return (
        render_template(
            "curadoria/comentario.html", comment=comment, form=form, events=zip(events, previous, strict=True)
        ),
        status,
    )


@bp.post("/comentarios/<comment_id>")
@panel_login_required(*CORRECTOR_ROLES)
def comment_correct(comment_id: str):
    comment = comments.get(_uuid(comment_id))
    form = _correction_form(comment, request.form)
    if not form.validate_on_submit():
        return _render_detail(comment, form, 422)
    correction = CorrectionIn(
        categoria=form.categoria.data, tags_funcionalidades=form.tags.data, motivo=form.motivo.data
    )
    try:
        comments.correct(comment.id, correction, current_user)
    except ValidationFailed as exc:
        form.categoria.errors = [exc.message]
        return _render_detail(comment, form, 422)
    flash("Correção registrada no histórico.", "info")
    return redirect(url_for("curation.comment_detail", comment_id=comment.id))


# --- Review queue --------------------------------------------------------------------------------------------


@bp.get("/revisar")
@panel_login_required()
def review():
    after = curation.decode_queue_cursor(request.args.get("apos"))
    before = curation.decode_queue_cursor(request.args.get("antes"))
    item = curation.queue_item(after=after, before=before)
    form = ReviewForm(formdata=None)
    context: dict[str, Any] = {
        "item": item,
        "form": form,
        "progress": curation.review_progress(current_user),
    }
    if item is not None:
        form.categoria.data = item.category
        cursor = curation.queue_cursor(item)
        form.depois.data = request.args.get("apos", "")
        context.update(
            disagreed=curation.second_opinion_disagreed(item),
            skip_url=url_for("curation.review", apos=cursor),
            prev_url=url_for("curation.review", antes=cursor),
        )
    return render_template("curadoria/revisar.html", **context)


@bp.post("/revisar/<comment_id>")
@panel_login_required(*CORRECTOR_ROLES)
def review_answer(comment_id: str):
    comment = comments.get(_uuid(comment_id))
    cursor = curation.queue_cursor(comment)
    form = ReviewForm()
    if not form.validate_on_submit():
        flash("Escolha uma categoria.", "erro")
        return redirect(url_for("curation.review", apos=form.depois.data or None))
    comments.correct(comment.id, CorrectionIn(categoria=form.categoria.data, motivo="fila de revisão"), current_user)
    return redirect(url_for("curation.review", apos=cursor))


@bp.get("/modelo")
@panel_login_required()
def model():
    versions = curation.model_versions()
    return render_template(
        "curadoria/modelo.html",
        versions=versions[:10],
        active=next((v for v in versions if v.get("active")), None),
        last=curation.last_training(versions),
        corrections=curation.corrections_for_retraining(),
    )


@bp.post("/retreinar")
@panel_login_required(Role.ADMIN.value)
def retrain():
    if not ActionForm().validate_on_submit():
        raise ValidationFailed("Formulário inválido.")
    outcome = curation.start_retraining()
    if outcome["status"] == "concluido":
        result = outcome["resultado"]
        flash("Modelo promovido." if result.get("promoted") else "Desafiante não promovido.", "info")
    else:
        flash("Retreinamento agendado; o resultado aparece aqui quando terminar.", "info")
    return redirect(url_for("curation.model"))


# --- Overview ------------------------------------------------------------------------------------------------


@bp.get("/visao-geral")
@panel_login_required()
def overview():
    versions = curation.model_versions()
    return render_template(
        "curadoria/visao_geral.html",
        active=next((v for v in versions if v.get("active")), None),
        summaries=curation.latest_summaries(),
        progress=curation.review_progress(current_user),
    )
