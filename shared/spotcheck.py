"""The spot-check sheet: sampled records, field by field, as sent to Dataverse and as found there.

``write_sheet(rows, xlsx, csv_stream)`` writes the same rows twice: an .xlsx (a summary sheet, then one
sheet per object with a frozen header and key column, an auto-filter, fitted column widths and every
difference filled) and a CSV (:func:`shared.problems.csv_text`, the one report CSV writer). People open
both in Excel, and the values come from the source, so no value may become a formula: in the .xlsx a
value is always a text cell (``quotePrefix`` set where it starts like a formula, so editing the cell
keeps it text), characters XML cannot hold are shown as ``<U+XXXX>``, and long values are clipped to
what a cell holds, saying how long they were.

The sheet quotes source values: it is personal data and stays in staging (``report/``).
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import IO, Any, Iterable

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from .problems import CELL_LIMIT, _FORMULA_START, clip, csv_text

#: the CSV's columns, one per field of :class:`SpotRow`
COLUMNS = ["object", "source_key", "field", "target_column", "source_value", "value_sent", "value_found", "equal"]
#: an object sheet's header (the object is the sheet)
HEADERS = ["Source key", "Field", "Target column", "Source value", "Value sent", "Value found", "Equal"]
SUMMARY = ["Object", "Records", "Fields compared", "Different", "Not compared"]
EQUAL_TEXT = {True: "yes", False: "no", None: "not compared"}
WIDTH_MIN, WIDTH_MAX = 8, 60  # column widths, in characters
DIFFERENT = PatternFill("solid", start_color="FFC7CE", end_color="FFC7CE")  # Excel's "light red fill"
NOT_COMPARED = PatternFill("solid", start_color="EDEDED", end_color="EDEDED")
HEADER_FILL = PatternFill("solid", start_color="1F3A5F", end_color="1F3A5F")
#: characters an .xlsx (XML 1.0) cannot hold (openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE, plus the
#: surrogates a badly decoded file may leave)
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SHEET_NAME = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class SpotRow:
    """One field of one sampled record. ``equal`` None: not compared (the value says why)."""

    object: str
    source_key: str
    field: str  # the source column ("" for a column the engine sets itself)
    target_column: str
    source_value: Any
    value_sent: Any
    value_found: Any
    equal: bool | None


def text(value: Any) -> str:
    """A value as the sheet shows it: None empty, booleans and numbers as JSON writes them."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _cell_text(value: Any) -> str:
    return clip(_ILLEGAL.sub(lambda m: f"<U+{ord(m[0]):04X}>", text(value)), CELL_LIMIT - 1)


def _put(ws: Worksheet, row: int, col: int, value: Any) -> None:
    """A text cell that no spreadsheet evaluates, whatever the value holds."""
    cell = ws.cell(row, col)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        cell.value = value  # a count of ours
        return
    cell.value = _cell_text(value)
    cell.data_type = "s"  # openpyxl makes a string starting with "=" a formula: this keeps it a string
    if cell.value.startswith(_FORMULA_START):
        cell.quotePrefix = True  # and Excel keeps it text when the cell is edited


def _table(ws: Worksheet, headers: list[str], rows: list[list[Any]], freeze: str) -> None:
    for c, h in enumerate(headers, 1):
        _put(ws, 1, c, h)
        ws.cell(1, c).font = Font(bold=True, color="FFFFFF")
        ws.cell(1, c).fill = HEADER_FILL
    for r, values in enumerate(rows, 2):
        for c, v in enumerate(values, 1):
            _put(ws, r, c, v)
    for c, h in enumerate(headers, 1):
        longest = max((len(line) for r in rows for line in text(r[c - 1]).splitlines() or [""]), default=0)
        ws.column_dimensions[get_column_letter(c)].width = min(WIDTH_MAX, max(WIDTH_MIN, len(h) + 2, longest + 2))
    ws.freeze_panes = freeze
    ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{max(len(rows) + 1, 2)}"


def _sheet_title(name: str, taken: set[str]) -> str:
    """A worksheet name Excel accepts (31 characters, none of ``[]:*?/\\``), unique in the workbook."""
    base = _SHEET_NAME.sub("_", name)[:31] or "object"
    title, n = base, 1
    while title.casefold() in taken or title.casefold() == "summary":
        n += 1
        title = f"{base[:31 - len(str(n)) - 1]}~{n}"
    taken.add(title.casefold())
    return title


def write_sheet(rows: Iterable[SpotRow | tuple], xlsx: str | IO[bytes], csv_stream: IO[bytes] | IO[str]) -> dict:
    """Write the spot check as .xlsx (a path or a binary stream) and CSV; return its counts.

    ``rows``: :class:`SpotRow` or tuples in its field order (object, source key, field, target column,
    source value, value sent, value found, equal)."""
    spot = [r if isinstance(r, SpotRow) else SpotRow(*r) for r in rows]
    by_object: dict[str, list[SpotRow]] = {}
    for r in spot:
        by_object.setdefault(r.object, []).append(r)
    wb = Workbook()
    summary = wb.active
    summary.title = "Summary"
    counts = []
    taken: set[str] = set()
    for name, items in by_object.items():
        c = Counter(r.equal for r in items)
        counts.append([name, len({r.source_key for r in items}), c[True] + c[False], c[False], c[None]])
        ws = wb.create_sheet(_sheet_title(name, taken))
        _table(ws, HEADERS, [[r.source_key, r.field, r.target_column, r.source_value, r.value_sent, r.value_found,
                              EQUAL_TEXT[r.equal]] for r in items], "B2")
        for i, r in enumerate(items, 2):
            if r.equal is not True:
                for cell in ws[i]:
                    cell.fill = DIFFERENT if r.equal is False else NOT_COMPARED
    totals = ["total", *(sum(c[i] for c in counts) for i in range(1, len(SUMMARY)))]
    _table(summary, SUMMARY, counts, "A2")
    for col, value in enumerate(totals, 1):  # below the filtered range: filtering never hides the totals
        _put(summary, len(counts) + 2, col, value)
        summary.cell(len(counts) + 2, col).font = Font(bold=True)
    for line, note in enumerate((
            "Value sent: what the engine sent to Dataverse for the field. Value found: what Dataverse holds now, "
            "read back by the record's alternate key.",
            "Lookups are compared by the source id of the record they point at (read back through the lookup's id).",
            "Rows filled red differ; grey ones were not compared (the value found says why)."), len(counts) + 4):
        _put(summary, line, 1, note)
    wb.save(xlsx)
    data = csv_text(COLUMNS, ({**r.__dict__, "source_value": text(r.source_value), "value_sent": text(r.value_sent),
                               "value_found": text(r.value_found), "equal": EQUAL_TEXT[r.equal]} for r in spot))
    csv_stream.write(data if isinstance(csv_stream, io.TextIOBase) else data.encode("utf-8"))
    return {"records": totals[1], "fields": totals[2], "different": totals[3], "not_compared": totals[4]}
