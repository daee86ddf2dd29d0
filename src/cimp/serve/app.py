"""`cimp serve`: the explorer as a FastAPI application, read-only.

No URL names a file: images are addressed by their content id, which must be one of the
dataset's, and the few static assets by a fixed name; so no path, relative, encoded or
absolute, can reach a file outside the dataset. Uploaded query images are size-limited,
read from a temporary folder outside the dataset and deleted. User text is parsed as the
--where and --set syntax, never evaluated.
"""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from cimp import schema
from cimp.errors import CimpError
from cimp.serve import pages
from cimp.serve.archive import Archive, NotFound

MAX_UPLOAD = 64 << 20  # bytes: a query image larger than this is refused
STATIC = {"style.css": "text/css", "app.js": "text/javascript"}
PER_PAGE = 60


def create_app(archive: Archive) -> FastAPI:
    """The application serving `archive`."""
    app = FastAPI(title="cimp", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, err: NotFound):
        return _error(request, str(err), 404)

    @app.exception_handler(CimpError)
    async def refused(request: Request, err: CimpError):
        return _error(request, str(err), 400)

    @app.get("/", response_class=HTMLResponse)
    def grid(where: str = "", split: str = "", sort: str = "", offset: int = 0, limit: int = 60):
        page = archive.select(where.split(), split, sort, offset, limit=limit)
        sorts = ["", *(["audit"] if archive.emb is not None else []), *_sortable(archive)]
        body = pages.grid_page(
            page, where, split, sort, offset=offset, limit=min(max(limit, 1), 500), sorts=sorts
        )
        return pages.layout(f"{archive.root.name}: {len(archive.table)} images", body)

    @app.get("/api/images")
    def images(where: str = "", split: str = "", sort: str = "", offset: int = 0, limit: int = 60):
        page = archive.select(where.split(), split, sort, offset, limit=limit)
        rows = page.rows.drop(columns=["provenance", "extra"], errors="ignore")
        return {"total": page.total, "rows": _records(rows)}

    @app.get("/thumb/{name}")
    def thumb(name: str):
        return Response(
            archive.thumbnail(_png_id(name)),
            media_type="image/png",
            headers={"Cache-Control": "max-age=86400"},
        )

    @app.get("/full/{name}")
    def full(
        name: str, low: float = Query(0.5, ge=0, le=100), high: float = Query(99.5, ge=0, le=100)
    ):
        if low >= high:
            raise CimpError("the display range's low end must be below its high end")
        return Response(archive.picture(_png_id(name), low, high), media_type="image/png")

    @app.get("/image/{image_id}", response_class=HTMLResponse)
    def image(image_id: str):
        row = archive.row(image_id)
        neighbours = archive.neighbours(image_id) if archive.emb is not None else {}
        scores = archive.audit_scores
        verdict = None
        if scores is not None and image_id in scores.index:
            verdict = (
                f"score {scores[image_id]:.2f} (above 1: a recorded field lies outside "
                "its 90 % interval)"
            )
        known = archive.emb is not None
        predicted = archive.predictions(image_id) if known else []
        notes = archive.outside(image_id) if known else []
        body = pages.image_page(
            row,
            archive.fields(image_id),
            neighbours,
            verdict,
            predicted=predicted,
            outside=notes,
            dose=archive.denoiser is not None,
        )
        return pages.layout(f"image {image_id[:12]}", body)

    @app.get("/dose/{name}")
    def dose(name: str, dwell_time: str = "x4"):
        png = archive.dose_preview(_png_id(name), {"dwell_time": dwell_time})
        return Response(png, media_type="image/png")

    @app.get("/search", response_class=HTMLResponse)
    def search(q: str = ""):
        hits = archive.like_settings(q)
        return pages.layout(f"images acquired at about {q}", pages.tiles(hits))

    @app.post("/api/query")
    async def query(request: Request):
        data = await _body(request)
        image = _read_upload(data, request.headers.get("x-filename", "query"))
        hits = archive.like_image(image)
        return {"rows": _records(hits[["image_id", "similarity", *pages.SHOWN]])}

    @app.get("/map", response_class=HTMLResponse)
    def map_page(color: str = "pixel_size"):
        fields = _sortable(archive)
        if color not in fields:
            raise CimpError(f"cannot colour by {color!r}: one of {', '.join(fields)}")
        return pages.layout("embedding map", pages.map_page(fields, color))

    @app.get("/api/map")
    def map_points(color: str = "pixel_size"):
        points = archive.projection.merge(archive.table[["image_id", color]], on="image_id")
        return {"color": color, "points": _records(points)}

    @app.get("/skipped", response_class=HTMLResponse)
    def skipped():
        return pages.layout("skipped files", pages.skipped_page(archive.skipped))

    @app.get("/static/{name}")
    def static(name: str):
        if name not in STATIC:
            raise NotFound(f"no asset {name!r}")
        text = resources.files("cimp.serve").joinpath("static", name).read_text()
        return Response(text, media_type=STATIC[name])

    return app


def _png_id(name: str) -> str:
    if not name.endswith(".png"):
        raise NotFound(f"no picture {name!r}")
    return name[: -len(".png")]


def _sortable(archive: Archive) -> list[str]:
    return [
        f.name for f in schema.FIELDS if f.name in schema.NUMERIC_NAMES and f.name in archive.table
    ]


def _records(rows) -> list[dict]:
    """JSON-safe rows: NaN as null."""
    return rows.astype(object).where(rows.notna(), None).to_dict("records")


async def _body(request: Request) -> bytes:
    """The request's body, refused beyond MAX_UPLOAD (read in chunks, never in full)."""
    declared = request.headers.get("content-length")
    if declared is not None and int(declared) > MAX_UPLOAD:
        raise CimpError(f"the upload is larger than {MAX_UPLOAD >> 20} MiB")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_UPLOAD:
            raise CimpError(f"the upload is larger than {MAX_UPLOAD >> 20} MiB")
    if not data:
        raise CimpError("send the query image as the request's body")
    return bytes(data)


def _read_upload(data: bytes, filename: str) -> np.ndarray:
    """The first image of an uploaded file, read in a temporary folder outside the dataset
    (only the name's suffix is kept: it tells the format)."""
    from cimp.io import UnreadableFile, read

    suffix = "".join(c for c in Path(filename).suffix[:8] if c.isalnum() or c == ".")
    with tempfile.TemporaryDirectory(prefix="cimp-query-") as folder:
        path = Path(folder) / f"query{suffix}"
        path.write_bytes(data)
        try:
            return read(path)[0].image
        except (UnreadableFile, OSError) as err:
            raise CimpError(f"cannot read the uploaded image: {err}") from None


def _error(request: Request, text: str, status: int):
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": text}, status_code=status)
    return HTMLResponse(pages.layout("cimp", pages.message(text)), status_code=status)
