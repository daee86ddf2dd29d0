"""Mapping tables: which vendor key gives which canonical field, in which unit.

Each vendor module declares a tuple of `Rule`s; `apply` reads them from one metadata tree
(nested dicts, keys joined by dots). The same tables write the format table in docs/.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cimp.io.record import set_field

Parse = Callable[[Any], tuple[Any, str | None]]


@dataclass(frozen=True)
class Rule:
    """`field` from the first of `keys` that holds a plausible value, in `unit`.

    `parse` turns a raw value into (value, unit) when the unit travels with the value
    (Zeiss tuples, "1.3Mx" strings); `note` explains the key in the docs table.
    """

    field: str
    keys: tuple[str, ...]
    unit: str | None = None
    parse: Parse | None = None
    note: str = ""


def lookup(tree: Mapping, key: str) -> Any:
    """tree["a"]["b"]["c"] for key "a.b.c"; None where any level is absent.

    A vendor key that itself holds a dot is found too: the longest matching prefix wins.
    """
    node: Any = tree
    parts = key.split(".")
    while parts:
        if not isinstance(node, Mapping):
            return None
        for n in range(len(parts), 0, -1):
            head = ".".join(parts[:n])
            if head in node:
                node, parts = node[head], parts[n:]
                break
        else:
            return None
    return node


def apply(rules: tuple[Rule, ...], tree: Mapping, prefix: str = "") -> tuple[dict, dict]:
    """(metadata, provenance) read from `tree` by the rules; the first plausible key wins."""
    metadata: dict = {}
    provenance: dict = {}
    for rule in rules:
        for key in rule.keys:
            raw = lookup(tree, key)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                continue
            try:
                value, unit = rule.parse(raw) if rule.parse else (raw, rule.unit)
                set_field(metadata, provenance, rule.field, value, unit=unit, key=prefix + key)
            except (TypeError, ValueError, KeyError) as err:
                shown = raw if not isinstance(raw, Mapping) else "{...}"
                why = str(err) if isinstance(err, ValueError) and str(err) else "unreadable"
                provenance.setdefault(rule.field, f"{prefix}{key} = {shown!r} (ignored: {why})")
                continue
            if rule.field in metadata:
                break
    return metadata, provenance
