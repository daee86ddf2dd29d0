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
from dataclasses import dataclass
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
