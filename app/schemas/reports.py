"""Report schemas: the feed filters and the published shape of the envelope and of one chart."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from app.models.catalog import name_key
from app.schemas.comments import OptionalName as BlankableName
from app.schemas.comments import _empty_to_none
from app.schemas.common import Schema

# `?artista=` (empty or blank) means no filter: the document says blank is allowed, as the app does.
OptionalName = Annotated[BlankableName | None, AfterValidator(_empty_to_none)]


class ReportFilters(Schema):
    """Filters of the public feeds (`artista`, `album`); other query parameters (format, bom, cache busters) are
    read apart or ignored."""

    artista: OptionalName = Field(default=None, description="Só comentários deste artista")
    album: OptionalName = Field(default=None, description="Só comentários deste álbum/lançamento")

    @property
    def artista_key(self) -> str | None:
        return name_key(self.artista) if self.artista else None

    @property
    def album_key(self) -> str | None:
        return name_key(self.album) if self.album else None

    def cache_params(self) -> dict[str, str | None]:
        """The normalised parameters a snapshot is keyed by ("Anitta" and " anitta " share one)."""
        return {"artista": self.artista_key, "album": self.album_key}


class SeriesOut(BaseModel):
    nome: str
    valores: list[float | int | None]


class ChartOut(BaseModel):
    id: str
    titulo: str
    descricao: str
    tipo: str
    labels: list[Any]
    series: list[SeriesOut]
    json_url: str
    csv_url: str
    extra: dict[str, Any] = Field(default_factory=dict)


class ReportOut(BaseModel):
    semana: str = Field(pattern=r"^\d{4}-W\d{2}$")
    gerado_em: datetime
    valido_ate: datetime
    fuso_horario: str
    filtros: dict[str, str | None]
    graficos: dict[str, ChartOut]
