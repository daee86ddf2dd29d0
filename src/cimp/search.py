"""Search a dataset's images: like a given image (a file or a dataset row), or acquired at
about given settings (partial settings allowed), within filters on recorded fields.

Settings and filters are written as a microscopist would: `dwell_time>5us`,
`beam_energy=300kV`, `detector=HAADF`; a value without a unit is in the field's canonical
unit (see `cimp summary`); `=` means within 1 %. Rows missing a filtered field never
pass the filter.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cimp import schema
from cimp.embeddings import Embeddings
from cimp.errors import CimpError
from cimp.index import VectorIndex

_CONDITION = re.compile(r"^\s*([a-z_]+)\s*(<=|>=|==|!=|=|<|>)\s*(.+?)\s*$")
_QUANTITY = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)$")
_OPS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": lambda a, b: np.isclose(a, b, rtol=0.01),
    "==": lambda a, b: np.isclose(a, b, rtol=0.01),
    "!=": lambda a, b: ~np.isclose(a, b, rtol=0.01),
}


@dataclass(frozen=True)
class Condition:
    """`field op value`, the value in the field's canonical unit (or a text)."""

    field: str
    op: str
    value: float | str

    def mask(self, table: pd.DataFrame) -> np.ndarray:
        column = table[self.field]
        if isinstance(self.value, str):
            same = column.fillna("").astype(str).str.lower().to_numpy() == self.value.lower()
            return same if self.op in ("=", "==") else ~same & column.notna().to_numpy()
        values = column.to_numpy(dtype=np.float64)
        known = np.isfinite(values)
        return known & _OPS[self.op](np.where(known, values, 0.0), self.value)


def parse_condition(text: str) -> Condition:
    """'dwell_time>5us' -> Condition('dwell_time', '>', 5.0); units converted."""
    match = _CONDITION.match(text)
    if match is None:
        raise CimpError(f"cannot read {text!r}: write it as field<value, e.g. dwell_time>5us")
    name, op, raw = match.groups()
    if name not in schema.BY_NAME:
        raise CimpError(f"unknown field {name!r}; fields: {', '.join(schema.BY_NAME)}")
    if name not in schema.NUMERIC_NAMES:
        if op not in ("=", "==", "!="):
            raise CimpError(f"{name} is a text field: use = or != with it")
        return Condition(name, op, raw)
    quantity = _QUANTITY.match(raw)
    if quantity is None:
        raise CimpError(f"{raw!r} is not a number (with an optional unit) for {name}")
    number, unit = float(quantity.group(1)), quantity.group(2) or None
    try:
        value = schema.to_canonical(name, number, unit)
    except ValueError as err:
        raise CimpError(f"{text!r}: {err}") from None
    return Condition(name, op, value)


def allowed_rows(table: pd.DataFrame, conditions: list[Condition]) -> np.ndarray | None:
    """Rows passing every condition (None when there is none to pass)."""
    if not conditions:
        return None
    keep = np.ones(len(table), dtype=bool)
    for condition in conditions:
        keep &= condition.mask(table)
    return keep


def parse_setting(text: str) -> Condition:
    """'dwell_time=2us' -> Condition('dwell_time', '=', 2.0), for a metadata query."""
    if _CONDITION.match(text) is None:
        raise CimpError(
            f"--set {text!r}: a setting is field=value, e.g. --set dwell_time=2us "
            f"(to keep only some images, use --where '{text.strip()}>5us' and the like)"
        )
    c = parse_condition(text)
    if c.op not in ("=", "=="):
        raise CimpError(f"--set {text!r}: a setting is field=value; filters go in --where")
    if isinstance(c.value, float) and schema.field(c.field).log and c.value <= 0:
        unit = schema.field(c.field).unit
        raise CimpError(f"--set {text!r}: {c.field} is a positive quantity ({unit})")
    return c


def settings_from(conditions: list[Condition]) -> dict[str, float | str]:
    """Settings for a metadata query, written as `field=value` conditions."""
    return {c.field: c.value for c in conditions}


def find_row(table: pd.DataFrame, ref: str) -> int:
    """A dataset row by image id (or a unique start of one), or by its position."""
    if ref.isdigit() and int(ref) < len(table):
        return int(ref)
    hits = np.flatnonzero(table["image_id"].str.startswith(ref).to_numpy(dtype=bool))
    if len(hits) != 1:
        raise CimpError(f"{ref!r} matches {len(hits)} images; give more of the image id")
    return int(hits[0])


def search(
    emb: Embeddings,
    query: np.ndarray,
    k: int = 10,
    conditions: list[Condition] = (),
    *,
    exclude_row: int | None = None,
    index: VectorIndex | None = None,
) -> pd.DataFrame:
    """The k images most similar to the query embedding, within the conditions, best first.

    `closer_than` is the share of the dataset's images less similar to the query than the
    hit: raw similarities of one model often differ in the second decimal only."""
    if k < 1:
        raise CimpError(f"-k {k}: ask for at least one image")
    allowed = allowed_rows(emb.table, list(conditions))
    if exclude_row is not None:
        allowed = np.ones(len(emb.table), dtype=bool) if allowed is None else allowed.copy()
        allowed[exclude_row] = False
    if allowed is not None and not allowed.any():
        return _hits(emb.table, np.array([], int), np.array([]), np.array([]))
    index = index or VectorIndex(emb.image)
    scores, rows = index.search(query, k, allowed)
    found = rows[0] >= 0
    everyone = np.sort(emb.image @ np.asarray(query, dtype=np.float32).ravel())
    closer = np.searchsorted(everyone, scores[0][found], side="left") / max(len(everyone), 1)
    return _hits(emb.table, rows[0][found], scores[0][found], closer)


def spread(emb: Embeddings, query: np.ndarray) -> tuple[float, float]:
    """How far the query's best matches stand out from the bulk of the dataset (the 99th
    minus the 50th percentile of its similarities), beside the same for the dataset's own
    images as queries (the median over up to 64 of them). Much less than typical: the
    query does not discriminate, and its ranking means little."""

    def gap(q: np.ndarray) -> float:
        similarities = emb.image @ np.asarray(q, dtype=np.float32).ravel()
        return float(np.percentile(similarities, 99) - np.percentile(similarities, 50))

    rows = np.random.default_rng(0).permutation(len(emb.table))[:64]
    return gap(query), float(np.median([gap(emb.image[r]) for r in rows]))


def listing(emb: Embeddings, k: int, conditions: list[Condition]) -> pd.DataFrame:
    """The first k images (by file) that pass the conditions, when nothing is asked for."""
    if k < 1:
        raise CimpError(f"-k {k}: ask for at least one image")
    rows = np.flatnonzero(allowed_rows(emb.table, conditions))[:k]
    nan = np.full(len(rows), np.nan)
    return _hits(emb.table, rows, nan, nan)


def _hits(table: pd.DataFrame, rows, similarity, closer) -> pd.DataFrame:
    hits = table.iloc[rows].copy()
    hits.insert(0, "closer_than", closer)
    hits.insert(0, "similarity", similarity)
    hits.insert(0, "rank", np.arange(1, len(rows) + 1))
    hits.insert(2, "row", rows)
    return hits.reset_index(drop=True)


def describe_settings(settings: dict) -> str:
    parts = []
    for name, value in settings.items():
        unit = schema.field(name).unit if name in schema.NUMERIC_NAMES else ""
        parts.append(f"{name}={value:g}{unit}" if isinstance(value, float) else f"{name}={value}")
    return ", ".join(parts)


def first_record(path: str | Path):
    """The first image of a file with its metadata, through cimp's readers."""
    from cimp.io import UnreadableFile, read

    try:
        return read(path)[0]
    except (UnreadableFile, OSError) as err:
        raise CimpError(f"cannot read {path}: {err}") from None


DEFAULT_COLUMNS = ["pixel_size", "dwell_time", "beam_current"]  # fields a hit shows by default


@dataclass
class Found:
    """What `find` found, and what a reader should know about it."""

    hits: pd.DataFrame
    what: str  # the question, in words
    columns: list[str]  # the recorded fields worth showing beside each hit
    query_image: np.ndarray | None = None
    query_outside: list[str] = field(default_factory=list)  # the query image vs the run's domain
    hits_outside: list[str] = field(default_factory=list)  # per hit, '' when inside
    weak: tuple[float, float] | None = None  # (gap, typical) when the query does not discriminate


@dataclass
class Query:
    """A checked question: like an image file or a dataset row, or at about settings,
    within conditions; none of the three: list what passes the conditions."""

    image: Path | None
    row: str | None
    settings: dict[str, float | str]
    conditions: list[Condition]
    k: int


def ask(image=None, row=None, settings=(), where=(), *, k: int = 10) -> Query:
    """The query the command line's options make ("dwell_time=2us", "beam_energy=300kV"), or
    a CimpError that says what is wrong, before anything is computed."""
    if sum(bool(q) for q in (image, row, settings)) > 1:
        raise CimpError("give one query: --image FILE, --row ID or --set field=value ... (or none)")
    if k < 1:
        raise CimpError(f"-k {k}: ask for at least one image")
    conditions = [parse_condition(c) for c in where]
    wanted = settings_from([parse_setting(c) for c in settings])
    if image is None and row is None and not wanted and not conditions:
        raise CimpError(
            "say what to find: --image FILE, --row ID, --set field=value or --where ..."
        )
    return Query(None if image is None else Path(image), row, wanted, conditions, k)


def find(run, emb: Embeddings, dataset: str | Path, query: Query, *, device: str = "auto") -> Found:
    """What the query finds among the embedded images (`run`: a `cimp.run.Run`)."""
    from cimp.device import resolve_device
    from cimp.domain import for_run, out_of_domain
    from cimp.embeddings import embed_image, embed_settings
    from cimp.store import Store

    q = query
    asked = list(dict.fromkeys([c.field for c in q.conditions] + list(q.settings)))
    domain = for_run(run)
    found = Found(pd.DataFrame(), "", asked or DEFAULT_COLUMNS)
    if q.image is None and q.row is None and not q.settings:
        found.hits = listing(emb, q.k, q.conditions)
        total = int(allowed_rows(emb.table, q.conditions).sum())
        found.what = f"images that pass the filters: {total} in all, {len(found.hits)} shown"
    else:
        model = run.load_model(resolve_device(device))
        exclude = None
        if q.row is not None:
            exclude = find_row(emb.table, q.row)
            vector, found.what = emb.image[exclude], f"images like row {exclude}"
            found.query_image = Store(dataset).image(emb.table["image_id"].iat[exclude])
        elif q.image is not None:
            record = first_record(q.image)
            found.query_outside = out_of_domain(domain, record, model.config.intensity_scale)
            found.query_image, vector = record.image, embed_image(model, record.image)
            found.what = f"images like {q.image.name}"
        else:
            vector = embed_settings(model, run.normalizer, q.settings)
            found.what = f"images acquired at about {describe_settings(q.settings)}"
        found.hits = search(emb, vector, q.k, q.conditions, exclude_row=exclude)
        gap, typical = spread(emb, vector)
        found.weak = (gap, typical) if gap < 0.5 * typical else None
    found.hits_outside = _outside(domain, found.hits)
    return found


def _outside(domain, hits: pd.DataFrame) -> list[str]:
    """Per hit, the kinds of way it lies outside the run's training domain ('' if none)."""
    if domain is None or hits.empty:
        return [""] * len(hits)
    return [", ".join(note) for note in domain.check_rows(hits)]
