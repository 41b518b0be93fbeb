"""Rows/s and peak memory of the work4all export reader on a 1,000,000-row Kunden.csv and Kunden.xlsx.

    python -m bench.work4all_reader [--rows 1000000] [--out out/bench/work4all] [--json FILE]

Writes the same 1,000,000 Kunden (the 22 contract columns, German dirt: umlauts and ß, ``1.234,56``-style
numbers, ``dd.mm.yyyy HH:MM`` times, ``Ja``/``WAHR``/``1`` booleans, notes with semicolons and line
breaks) twice: as ``csv/Kunden.csv`` (Windows-1252, semicolons, CRLF) and as ``xlsx/Kunden.xlsx`` (one
sheet, numbers and dates as Excel numbers, text as inline strings, written by
``emulators.sample_work4all.write_xlsx``). Then, each in a fresh Python process so that its peak
resident memory (``ru_maxrss``) is its own:
- ``baseline``: the interpreter with the reader imported, reading nothing;
- ``csv`` / ``xlsx``: ``shared.sources.work4all.export.read_table`` over the whole table, rows counted;
- ``csv 10 %`` / ``xlsx 10 %``: the same over the first tenth: the same peak at a tenth and at the whole
  table is what "constant memory" means here;
  (rows per CPU second are printed beside rows per wall second: on a shared machine the wall clock
  also measures the neighbours);
- ``csv + parse``: reading and parsing every number, date, date-time and boolean cell with
  ``values.parse_*`` (what the transform adds per row).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import time
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.profile import cpu_model, run_child  # noqa: E402 - one process per phase, as the profiler bench

NAMES = ("Müller", "Schäfer", "Weiß", "Groß", "Köhler", "Bäckerei Öztürk", "Straßenbau Fuß", "Hansa", "Förde")
KINDS = ("Haustechnik", "Maschinenbau", "Elektro", "Logistik", "Druckerei", "Kältetechnik")
ORTE = (("80331", "München"), ("50667", "Köln"), ("40213", "Düsseldorf"), ("90402", "Nürnberg"),
        ("20095", "Hamburg"))


def rows(n: int, seed: int = 7, typed: bool = False):
    """The Kunden rows (lists in contract order); ``typed``: numbers, dates and booleans as Python values."""
    from emulators.sample_work4all import de_datetime
    from shared.sources.work4all.export import COLUMNS

    rng = random.Random(seed)
    base = datetime(2015, 1, 1)
    assert len(COLUMNS["Kunden"]) == 22
    for i in range(n):
        name = f"{rng.choice(NAMES)} {rng.choice(KINDS)} GmbH {i}"
        plz, ort = rng.choice(ORTE)
        created = base + timedelta(minutes=rng.randrange(5_000_000))
        modified = created + timedelta(minutes=rng.randrange(500_000))
        private, blocked = rng.random() < 0.1, rng.random() < 0.05
        note = "" if i % 4 else rng.choice(("Rückruf erbeten; bitte bis Freitag.", "Zeile eins\r\nZeile zwei",
                                            "Größere Bestellung geplant."))
        first = created.date() - timedelta(days=rng.randrange(3000))
        if typed:
            cells = [1000 + i, str(10001 + i), name, "", f"Hauptstraße {rng.randrange(1, 200)}", plz, ort,
                     "Deutschland", "089 123456", "", "", f"info@firma{i}.de", f"www.firma{i}.de", private, blocked,
                     rng.choice((14, 30, 60)), "A-Kunde", note, first, f"ma{rng.randrange(40)}@beispiel.de",
                     created, modified]
        else:
            cells = [str(1000 + i), str(10001 + i), name, "", f"Hauptstraße {rng.randrange(1, 200)}", plz, ort,
                     "Deutschland", "089 123456", "", "", f"info@firma{i}.de", f"www.firma{i}.de",
                     rng.choice(("Ja", "WAHR", "1")) if private else rng.choice(("Nein", "FALSCH", "0")),
                     "Ja" if blocked else "Nein", str(rng.choice((14, 30, 60))), "A-Kunde", note,
                     first.strftime("%d.%m.%Y"), f"ma{rng.randrange(40)}@beispiel.de", de_datetime(created),
                     de_datetime(modified)]
        yield cells


def generate(folder: Path, n: int) -> tuple[Path, Path]:
    from emulators.sample_work4all import write_csv, write_xlsx
    from shared.sources.work4all.export import COLUMNS

    header = list(COLUMNS["Kunden"])
    (folder / "csv").mkdir(parents=True, exist_ok=True)
    (folder / "xlsx").mkdir(parents=True, exist_ok=True)
    csv_path, xlsx_path = folder / "csv" / "Kunden.csv", folder / "xlsx" / "Kunden.xlsx"
    write_csv(csv_path, header, rows(n), "cp1252")
    write_xlsx(xlsx_path, [("Kunden", header, rows(n, typed=True))])
    return csv_path, xlsx_path


def _measure(phase: str, folder: Path, limit: int | None) -> dict:
    from shared.sources.work4all import values
    from shared.sources.work4all.export import read_table

    kind = "xlsx" if phase.startswith("xlsx") else "csv"
    start, cpu = time.perf_counter(), time.process_time()
    n = errors = 0
    if phase != "baseline":
        reader = read_table(folder / kind, "Kunden")
        if phase == "csv+parse":
            for row in islice(reader, limit):
                n += 1
                try:
                    values.parse_bool(row["Privatkunde"])
                    values.parse_bool(row["Gesperrt"])
                    values.parse_int(row["Zahlungsfrist"])
                    values.parse_date(row["Erstkontakt"])
                    values.parse_datetime(row["AngelegtAm"])
                    values.parse_datetime(row["GeaendertAm"])
                except ValueError:
                    errors += 1
        else:
            for row in islice(reader, limit):
                n += 1
                errors += "_error" in row
        reader.close()
    return {"phase": phase, "rows": n, "errors": errors, "seconds": round(time.perf_counter() - start, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--out", default=str(ROOT / "out" / "bench" / "work4all"))
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--reuse", action="store_true", help="keep files generated earlier with the same --rows")
    ap.add_argument("--only", help="csv or xlsx: only those phases (and the baseline)")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    folder = Path(args.out)
    if args.measure:
        print(json.dumps(_measure(args.measure, folder, args.limit)))
        return 0
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "rows.txt"
    csv_path, xlsx_path = folder / "csv" / "Kunden.csv", folder / "xlsx" / "Kunden.xlsx"
    if not (args.reuse and marker.exists() and marker.read_text() == str(args.rows)):
        t = time.perf_counter()
        generate(folder, args.rows)
        marker.write_text(str(args.rows))
        print(f"generated {args.rows:,} Kunden twice in {time.perf_counter() - t:.0f} s: {csv_path} "
              f"({csv_path.stat().st_size / 2**20:,.0f} MiB), {xlsx_path} ({xlsx_path.stat().st_size / 2**20:,.0f} MiB)")
    tenth = args.rows // 10
    phases = [("baseline", None), ("csv", None), ("csv", tenth), ("csv+parse", None), ("xlsx", None),
              ("xlsx", tenth)]
    if args.only:
        phases = [p for p in phases if p[0] == "baseline" or p[0].split("+")[0] in args.only.split(",")]
    results = []
    for phase, limit in phases:
        r = run_child("bench.work4all_reader", phase, folder, limit)
        r["phase"] = phase + (" 10 %" if limit else "")
        results.append(r)
        print(f"  {r['phase']}: {r['rows']:,} rows in {r['seconds']} s", flush=True)
    print(f"conditions: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, one process per phase; "
          f"{args.rows:,} rows x 22 columns; reader: shared.sources.work4all.export.read_table (encoding detection, "
          "row numbers; Excel: the sheet's XML streamed, each row dropped once read); peak memory: ru_maxrss of the "
          "phase's process (interpreter included)")
    print(f"{'phase':14} {'rows':>10} {'seconds':>8} {'rows/s':>9} {'CPU s':>8} {'rows/CPU s':>10} {'peak MiB':>9} "
          f"{'errors':>7}")
    for r in results:
        rate = f"{r['rows'] / r['seconds']:,.0f}" if r["rows"] and r["seconds"] else "-"
        per_cpu = f"{r['rows'] / r['cpu_seconds']:,.0f}" if r["rows"] and r["cpu_seconds"] else "-"
        print(f"{r['phase']:14} {r['rows']:>10,} {r['seconds']:>8.1f} {rate:>9} {r['cpu_seconds']:>8.1f} {per_cpu:>10} "
              f"{r['peak_rss_mib']:>9.1f} {r['errors']:>7}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": args.rows, "phases": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
