"""What a reader module declares about its format, so `cimp.io` and the docs need no list
of their own: its name, suffixes, reader, mapping tables (docs/formats.md rows), and
optionally a sniff (claims a file whatever its suffix) and parts (very large containers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cimp.io.mapping import Rule


@dataclass(frozen=True)
class Table:
    """One row of docs/formats.md: which key gives each field in one flavour of a format."""

    label: str
    suffix: str
    rules: tuple[Rule, ...] = ()
    where: str = ""  # where the keys live
    core: Callable[[str], str] | None = None  # a fixed text per core field (no rules)


@dataclass(frozen=True)
class Format:
    name: str
    label: str
    suffixes: tuple[str, ...]
    read: Callable[..., list]  # read(path), or read(path, part) with parts
    tables: tuple[Table, ...] = ()
    sniff: Callable[[Path], bool] | None = None
    parts: Callable[[Path], int] | None = None
