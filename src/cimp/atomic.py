"""Files written whole or not at all: a killed write never leaves half a file under its name."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SUFFIX = ".partial"  # no reader or glob of cimp's matches it


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; it replaces `path` at once when the block
    ends without error, and is removed when it raises."""
    path = Path(path)
    tmp = path.with_name(path.name + SUFFIX)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | Path, data) -> None:
    """`data` as indented JSON, written whole or not at all."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
