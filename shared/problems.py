"""Errors are data: every rejected row and every dropped value becomes a Problem row.

A Problem names the object, the source id, the file and the physical line it came from (``line``,
where a text editor finds it) and the data record number (``record``, 1-based, what a spreadsheet
shows as row ``record + 1``), the stage that found it, a machine code (a Dataverse error code such
as ``0x80040217``, or one of ours such as ``duplicate_key``), the field and the offending value
where there is one, and a message a person can act on. ``rejects.csv`` and ``warnings.csv`` are
lists of these.

Every report CSV is written by :func:`csv_text`: the files are opened in Excel by the people who act
on them, so no cell may start a formula (``=HYPERLINK(...)`` from a source value would be live), and
no source value may blow a listing up (a 1 MB cell quoted in a message and as the value).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable, Sequence

#: the longest value or message a Problem keeps; longer ones keep their start and end and say how long they were
VALUE_LIMIT = 500
MESSAGE_LIMIT = 1000
#: Excel holds at most 32,767 characters in a cell
#: (https://support.microsoft.com/office/excel-specifications-and-limits-1672b34d-7043-467e-8e27-269d656771c3)
CELL_LIMIT = 32_767


@dataclass
class Problem:
    object: str
    source_id: str | None
    stage: str  # extract | transform | load | owners | schema | documents
    code: str
    message: str
    file: str | None = None
    line: int | None = None  # physical line in the file where the record starts (the header is line 1)
    record: int | None = None  # 1-based data record number in the file (or the API's listing)
    field: str | None = None
    value: str | None = None

    def __post_init__(self) -> None:
        self.message = clip(self.message, MESSAGE_LIMIT)
        if self.value is not None:
            self.value = clip(str(self.value), VALUE_LIMIT)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Problem":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in _renamed(d).items() if k in names})


COLUMNS = [f.name for f in fields(Problem)]


def _renamed(d: dict) -> dict:
    """A problem dict staged before ``row`` became ``line`` (a run resumed across the upgrade) read as new."""
    return {"line": d["row"], **d} if "row" in d and "line" not in d else d


def clip(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, keeping its start and end and saying how long it was."""
    if len(text) <= limit:
        return text
    marker = f" [... cut: {len(text)} characters in all ...] "
    tail = max(0, min(100, (limit - len(marker)) // 4))
    return text[: max(0, limit - len(marker) - tail)] + marker + text[len(text) - tail:]


#: characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection:
#: https://owasp.org/www-community/attacks/CSV_Injection)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: Any) -> str:
    """A value as a cell no spreadsheet evaluates: ``'`` before a formula start (a plain number stays)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = clip(text, CELL_LIMIT - 1)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_text(columns: Sequence[str], rows: Iterable[dict]) -> str:
    """The one writer of report CSVs: a header of ``columns``, then every row's cells through :func:`safe_cell`.

    Lines end in CRLF (RFC 4180): the csv module quotes a cell holding a character of the line
    terminator, so a CR inside a value is quoted instead of splitting the record in two."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(columns)
    w.writerows([safe_cell(r.get(c)) for c in columns] for r in rows)
    return buf.getvalue()


def to_csv(problems: Iterable[Problem | dict]) -> str:
    """rejects.csv / warnings.csv from Problems or their dicts (as staged, old ``row`` ones too)."""
    return csv_text(COLUMNS, (_cells(p.to_dict() if isinstance(p, Problem) else p) for p in problems))


def _cells(d: dict) -> dict:
    d = _renamed(d)
    return {**d, "message": clip(str(d.get("message") or ""), MESSAGE_LIMIT),
            "value": None if d.get("value") is None else clip(str(d["value"]), VALUE_LIMIT)}
