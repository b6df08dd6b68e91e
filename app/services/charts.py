"""Server-side PNG charts for e-mail (matplotlib's Agg canvas: no display, no pyplot global state)."""

from __future__ import annotations

import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

# The panel's palette, one colour per category (readable on white, distinct for common colour blindness).
CATEGORY_COLOURS = {
    "ELOGIO": "#2e7d32",
    "CRÍTICA": "#c62828",
    "SUGESTÃO": "#1565c0",
    "DÚVIDA": "#f9a825",
    "SPAM": "#757575",
}


def weekly_chart_png(aggregate: dict[str, Any], *, dpi: int = 110) -> bytes:
    """Two panels: the category mix against the previous week, and the artists with most praise vs criticism."""
    figure = Figure(figsize=(6.4, 3.6), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    mix, artists = figure.subplots(1, 2, width_ratios=(1.1, 1))

    categories = aggregate["categorias"]
    labels = [c["categoria"] for c in categories]
    positions = range(len(labels))
    mix.barh([p + 0.2 for p in positions], [c["participacao_anterior_pct"] for c in categories], height=0.4,
             color="#cfd8dc", label="semana anterior")  # fmt: skip
    mix.barh([p - 0.2 for p in positions], [c["participacao_pct"] for c in categories], height=0.4,
             color=[CATEGORY_COLOURS.get(label, "#455a64") for label in labels], label=aggregate["semana"])  # fmt: skip
    mix.set_yticks(list(positions), labels, fontsize=8)
    mix.invert_yaxis()
    mix.set_xlabel("% dos comentários", fontsize=8)
    mix.set_title("Mix de categorias", fontsize=10)
    mix.tick_params(axis="x", labelsize=7)
    mix.legend(fontsize=7, frameon=False, loc="lower right")

    ranked: dict[str, dict[str, int]] = {}
    for item in aggregate["artistas_hype"] + aggregate["artistas_criticas"]:
        entry = ranked.setdefault(item["nome"], {"elogios": 0, "criticas": 0})
        for key in ("elogios", "criticas"):
            entry[key] = max(entry[key], int(item.get(key, 0)))
    names = sorted(ranked, key=lambda n: -(ranked[n]["elogios"] + ranked[n]["criticas"]))[:6]
    if names:
        ys = range(len(names))
        artists.barh(list(ys), [ranked[n]["elogios"] for n in names], color=CATEGORY_COLOURS["ELOGIO"], label="elogios")
        artists.barh(list(ys), [-ranked[n]["criticas"] for n in names], color=CATEGORY_COLOURS["CRÍTICA"],
                     label="críticas")  # fmt: skip
        artists.set_yticks(list(ys), [n[:18] for n in names], fontsize=8)
        artists.invert_yaxis()
        artists.axvline(0, color="#263238", linewidth=0.8)
        # Criticism is drawn leftwards; the axis still reads as counts.
        artists.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{abs(value):g}"))
        artists.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))  # counts, never 0.2 of a comment
        artists.legend(fontsize=7, frameon=False, loc="lower right")
    else:
        artists.text(0.5, 0.5, "sem artistas\ncom volume suficiente", ha="center", va="center", fontsize=8)
        artists.set_yticks([])
    artists.set_title("Hype x críticas por artista", fontsize=10)
    artists.tick_params(axis="x", labelsize=7)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()
