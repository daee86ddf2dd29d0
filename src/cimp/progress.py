"""Progress bars for long work (rich), silent when not wanted or not on a terminal."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


class Bar:
    """A bar with count, elapsed and remaining time, and a free-text note (loss, speed...)."""

    def __init__(self, description: str, total: int | None, enabled: bool = True):
        self.enabled = enabled
        if not enabled:
            return
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
        )
        self._task = self._progress.add_task(description, total=total, note="")

    def __enter__(self) -> Bar:
        if self.enabled:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._progress.stop()

    def set_total(self, total: int) -> None:
        if self.enabled:
            self._progress.update(self._task, total=total)

    def advance(self, n: int = 1, note: str | None = None) -> None:
        if not self.enabled:
            return
        fields = {} if note is None else {"note": note}
        self._progress.update(self._task, advance=n, **fields)


def track(
    items: Iterable[T], description: str, total: int | None = None, enabled: bool = True
) -> Iterator[T]:
    """Yield from `items`, drawing a Bar."""
    with Bar(description, total, enabled) as bar:
        for item in items:
            yield item
            bar.advance()
