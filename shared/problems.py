"""Errors are data: every rejected row and every dropped value becomes a Problem row.

A Problem names the object, the source id, the file and row it came from, the stage that found it,
a machine code (a Dataverse error code such as ``0x80040217``, or one of ours such as
``duplicate_key``), the field and the offending value where there is one, and a message a person
can act on. ``rejects.csv`` and ``warnings.csv`` are lists of these.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, fields
from typing import Iterable


@dataclass
class Problem:
    object: str
    source_id: str | None
    stage: str  # extract | transform | load | owners | schema | documents
    code: str
    message: str
    file: str | None = None
    row: int | None = None
    field: str | None = None
    value: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Problem":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


COLUMNS = [f.name for f in fields(Problem)]


def to_csv(problems: Iterable[Problem | dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for p in problems:
        w.writerow(p.to_dict() if isinstance(p, Problem) else {k: p.get(k) for k in COLUMNS})
    return buf.getvalue()
