"""Rows of a source from a position on, for extraction in slices.

Extraction reads an object in bounded slices (``shared.steps.extract``) and stages, with each slice, where
the next one starts. Every reader offers that as ``position()`` and ``exhausted``, as the files'
``TableReader`` does; :class:`Resumable` gives it to a plain iterator of rows (an API's pages), counting
the records read. A reader that cannot start midway reads the first ones again and skips them
(:meth:`Resumable.skipping`).
"""

from __future__ import annotations

from typing import Iterator


class Resumable:
    """``rows``, the first of which is record number ``n`` of the object; ``position()`` is where the next
    slice starts."""

    def __init__(self, rows: Iterator[dict], n: int = 0):
        self._rows, self._n, self._done = iter(rows), n, False

    @classmethod
    def skipping(cls, rows: Iterator[dict], start: dict | None) -> "Resumable":
        """All of ``rows``, read from the first and skipped up to ``start["record"]``."""
        reader = cls(rows)
        for _ in range(int((start or {}).get("record", 0))):
            if next(reader._rows, None) is None:
                break
            reader._n += 1
        return reader

    def __iter__(self) -> "Resumable":
        return self

    def __next__(self) -> dict:
        try:
            row = next(self._rows)
        except StopIteration:
            self._done = True
            raise
        self._n += 1
        self.seen(row)
        return row

    def seen(self, row: dict) -> None:
        """What a subclass remembers of each row read (a key to go on after)."""

    def position(self) -> dict:
        return {"record": self._n}

    @property
    def exhausted(self) -> bool:
        return self._done
