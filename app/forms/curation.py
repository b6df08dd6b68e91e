"""The curator panel's forms. Validation of comment data itself stays in app/schemas (pydantic); these carry what
a person types or clicks, and the CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.classifier.base import CATEGORIES

REQUIRED = "Campo obrigatório."


def category_choices() -> list[tuple[str, str]]:
    return [(c, c) for c in CATEGORIES]


class LoginForm(FlaskForm):
    username = StringField("Usuário", validators=[DataRequired(REQUIRED), Length(max=80)])
    password = PasswordField("Senha", validators=[DataRequired(REQUIRED), Length(max=200)])
    next = HiddenField()


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CorrectionForm(FlaskForm):
    categoria = RadioField("Categoria", choices=category_choices(), validators=[DataRequired(REQUIRED)])
    tags = MultiCheckboxField("Tags", choices=[], validate_choice=True)
    motivo = TextAreaField("Motivo", validators=[Optional(), Length(max=500)])


class ReviewForm(FlaskForm):
    categoria = RadioField("Categoria", choices=category_choices(), validators=[DataRequired(REQUIRED)])
    depois = HiddenField()


class BulkForm(FlaskForm):
    """Rows chosen by checkbox, or every comment matching the filters carried in the form's hidden query."""

    ids = SelectMultipleField("Selecionados", choices=[], validate_choice=False)
    todos = BooleanField("Todos os que correspondem ao filtro")
    confirmar = BooleanField("Confirmo a alteração")
    categoria = RadioField("Nova categoria", choices=category_choices(), validators=[DataRequired(REQUIRED)])
    motivo = StringField("Motivo", validators=[Optional(), Length(max=500)])
    filtro = HiddenField()


class ActionForm(FlaskForm):
    """A button that changes state (logout, start retraining): only the CSRF token."""
