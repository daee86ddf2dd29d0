"""The explorer's pages, rendered on the server: plain HTML, every value escaped."""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from cimp import schema

SHOWN = ("pixel_size", "dwell_time", "beam_current", "detector", "split")


def layout(title: str, body: str) -> str:
    """A whole page: the navigation bar, then `body`."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{escape(title)} · cimp</title>
<link rel="stylesheet" href="/static/style.css">
<script src="/static/app.js" defer></script>
</head><body>
<nav><a href="/">images</a> <a href="/map">map</a> <a href="/skipped">skipped files</a>
<form action="/search" method="get" class="inline">
<input name="q" placeholder="dwell_time=2us pixel_size=0.05nm" size="34" aria-label="settings">
<button>find by settings</button></form>
<form id="upload" class="inline"><input type="file" id="query-file" aria-label="query image">
<button>find like this image</button></form>
</nav>
<main><h1>{escape(title)}</h1>
{body}
</main></body></html>"""


def tiles(rows: pd.DataFrame, note: pd.Series | None = None) -> str:
    """A grid of thumbnails, each a link to its image's page."""
    cells = []
    for i, row in enumerate(rows.itertuples(index=False)):
        image_id = escape(str(row.image_id))
        caption = " · ".join(_value(name, getattr(row, name, None)) for name in SHOWN)
        extra = "" if note is None else f"<br><b>{escape(str(note.iloc[i]))}</b>"
        cells.append(
            f'<a class="tile" href="/image/{image_id}" data-id="{image_id}">'
            f'<img loading="lazy" src="/thumb/{image_id}.png" alt="image {image_id[:8]}" '
            f'width="128" height="128"><span>{escape(caption)}{extra}</span></a>'
        )
    return '<div class="grid">' + "".join(cells) + "</div>"


def grid_page(page, where: str, split: str, sort: str, *, offset: int, limit: int, sorts) -> str:
    """The dataset's images, filtered and sorted, one page at a time."""
    splits = "".join(
        f'<option value="{s}"{" selected" if s == split else ""}>{s or "all splits"}</option>'
        for s in ("", "train", "val", "test")
    )
    orders = "".join(
        f'<option value="{escape(s)}"{" selected" if s == sort else ""}>'
        f"{escape(s or 'as stored')}</option>"
        for s in sorts
    )
    form = (
        '<form method="get" class="filters">'
        f'<input name="where" value="{escape(where)}" size="40" '
        'placeholder="dwell_time>5us detector=HAADF" aria-label="filter">'
        f'<select name="split" aria-label="split">{splits}</select>'
        f'<select name="sort" aria-label="sort">{orders}</select>'
        "<button>filter</button></form>"
    )
    shown = f"<p id='count'>{page.total} images pass; {offset + 1 if page.total else 0}-"
    shown += f"{min(offset + limit, page.total)} shown</p>"
    query = {"where": where, "split": split, "sort": sort, "limit": limit}
    links = []
    if offset > 0:
        links.append(
            f'<a href="/?{urlencode(query | {"offset": max(offset - limit, 0)})}">prev</a>'
        )
    if offset + limit < page.total:
        links.append(f'<a href="/?{urlencode(query | {"offset": offset + limit})}">next</a>')
    note = page.rows["score"].map(lambda v: f"audit {v:.2f}") if "score" in page.rows else None
    pager = '<p class="pager">' + " ".join(links) + "</p>"
    return form + shown + tiles(page.rows, note) + pager


def image_page(
    row: pd.Series,
    fields,
    neighbours: dict,
    verdict: str | None,
    *,
    predicted=(),
    outside=(),
    dose: bool = False,
) -> str:
    """One image: the picture (zoom, display range), its fields, what the run predicts of
    them and how the image lies outside its training, its audit, its neighbours, and a
    dose-transfer preview when a denoiser is served."""
    image_id = escape(str(row["image_id"]))
    table = "".join(
        f"<tr><td>{escape(name)}</td><td>{escape(value)}</td><td>{escape(origin)}</td></tr>"
        for name, value, origin in fields
    )
    source = escape(f"{row['source']} (frame {row['frame']})")
    parts = [
        f'<p class="source">{source}</p>',
        '<div class="viewer"><img id="full" alt="the image" '
        f'src="/full/{image_id}.png" data-id="{image_id}"></div>',
        '<p>display range <input type="range" id="low" min="0" max="50" value="0.5" step="0.5">'
        ' <input type="range" id="high" min="50" max="100" value="99.5" step="0.5"> '
        "zoom: mouse wheel</p>",
        f'<table class="fields"><tr><th>field</th><th>value</th><th>from</th></tr>{table}</table>',
    ]
    if predicted:
        rows = "".join(
            f"<tr><td>{escape(n)}</td><td>{escape(p)}</td><td>{escape(r)}</td></tr>"
            for n, p, r in predicted
        )
        parts.append(
            '<h2>what the run reads from the pixels</h2><table class="predicted">'
            f"<tr><th>field</th><th>predicted (90 % interval)</th><th>recorded</th></tr>{rows}"
            "</table>"
        )
    for note in outside:
        parts.append(f'<p class="error">outside the run\'s training: {escape(note)}</p>')
    if verdict:
        parts.append(f'<p class="verdict">audit: {escape(verdict)}</p>')
    if dose:
        parts.append(
            f'<h2>at 4x the dwell time (dose transfer)</h2><img alt="dose transfer preview" '
            f'loading="lazy" src="/dose/{image_id}.png" class="dose">'
        )
    for by, rows in neighbours.items():
        parts.append(f"<h2>nearest by {escape(by)}</h2>" + tiles(rows))
    return "".join(parts)


def skipped_page(skipped: pd.DataFrame) -> str:
    if skipped.empty:
        return "<p>The last ingest took every file it was given.</p>"
    rows = "".join(
        f"<tr><td>{escape(str(r.path))}</td><td>{escape(str(r.reason))}</td></tr>"
        for r in skipped.itertuples(index=False)
    )
    return f"<table><tr><th>file</th><th>why</th></tr>{rows}</table>"


def map_page(fields: list[str], color: str) -> str:
    """The embedding map: drawn by app.js from /api/map, coloured by a field."""
    options = "".join(
        f"<option{' selected' if f == color else ''}>{escape(f)}</option>" for f in fields
    )
    return (
        f'<form method="get"><select name="color" aria-label="colour by">{options}</select>'
        "<button>colour</button></form>"
        f'<canvas id="map" width="800" height="600" data-color="{escape(color)}"></canvas>'
        "<p>Each dot is an image (the first two principal components of its image embedding);"
        " click one to open it.</p>"
    )


def message(text: str) -> str:
    return f'<p class="error">{escape(text)}</p>'


def _value(name: str, value) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return (
            f"{value:.3g} {schema.field(name).unit}".strip()
            if name in schema.BY_NAME
            else (f"{value:.3g}")
        )
    return str(value)
