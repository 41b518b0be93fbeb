"""The run's report page and e-mail summary, as written by final_report: what they show, what they never
show (record values, error messages quoting them), and that the page stands alone (no script, nothing
fetched, charts inline)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import escape

from shared.reporting import charts
from shared.reporting.html import render_report, report_context

from .conftest import HOSTILE_FIELD, OWNER, PERSONAL, page, staged_run

FAILURE = {"kind": "access", "activity": "load_chunk", "object": "contact",
           "message": "Dataverse refused POST /api/data/v9.2/contacts (403): the application user lacks a privilege"}


def text_of(html: str) -> str:
    """What a person reads: the markup without tags (and without the charts' and styles' code)."""
    html = re.sub(r"<(style|svg)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def test_final_report_writes_the_page_and_the_summary_beside_report_json(tmp_path):
    st, report = await staged_run(tmp_path)
    assert report["files"][-2:] == ["report.html", "summary.md"]  # so the CLI copies them to --out
    html = page(st)
    text = text_of(html)
    for heading in ("Summary", "Objects", "Rejects and warnings by reason", "Throughput and throttling",
                    "Owner queue", "Lossy conversions", "The approved map", "Workflow inventory"):
        assert f">{heading}</h2>" in html, heading
    row = re.search(r'<tr data-object="company">(.*?)</tr>', html, re.S)[1]
    cells = [c.strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
    assert cells[:4] == ["company", "<code>account</code>", "4", "2"]  # object, table, source, loaded
    assert "every source record is accounted for" in text.lower() and "4 source = 2 loaded + 2 rejected" in text
    assert re.search(r'<tr data-object="contact">.*?not done', html, re.S)
    # the reasons, by code and field; the load's 429s; the owner queue; the lossy conversion and the map
    assert "0x80044331" in text and "duplicate_key" in text and "invalid_value" in text
    assert "3 answers 429" in text
    assert OWNER in text  # the administrator must see whom to provision
    assert re.search(r"Urgent</td><td>High</td><td class=\"num\">7</td>", html)
    assert "wtc_sourceid" in text and "not migrated" in text and "sha256:" in text
    # a column the object's code reads is migrated, not "not migrated"
    assert "3 columns mapped, 1 read by the object's code, 1 not migrated" in text
    industry = re.search(r"<code>Industry</code>.*?</tr>", html, re.S)[0]
    assert "read by the object" in industry and "not migrated" not in industry
    assert "Overdue invoice reminder" in text and "Schedule: Recurrence" in text
    summary = st.read_bytes("report/summary.md").decode("utf-8")
    assert "# Migration run staged-run: completed" in summary
    assert "| company | account | 4 | 2 | 2 | 0 | 1 |" in summary and "| contact | contact |" in summary
    # the summary's records/s is the page's ("while loading"), not over the waves' other steps
    rate = re.search(r"<b>([\d,]+)</b> records/s while loading", html)[1]
    assert f"({rate} records/s)" in summary and "s of loading" in summary


async def test_the_page_stands_alone_and_carries_no_record_value(tmp_path):
    st, _ = await staged_run(tmp_path)
    html = page(st)
    assert "<script" not in html.replace("&lt;script", "")  # the hostile column name is text, not markup
    assert escape(HOSTILE_FIELD) in html  # shown escaped (the field of a warning)
    assert "default-src 'none'" in html  # and the CSP forbids scripts and fetches whatever a value holds
    assert not re.search(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:|//|data:|javascript:)""", html, re.I)
    assert not re.search(r"@import|url\(\s*['\"]?(?:https?:|//)", html)  # no web font, no remote stylesheet
    links = set(re.findall(r'href="([^"#][^"]*)"', html))
    assert links and links <= {"report.json", "rejects.csv", "warnings.csv", "owner_queue.csv", "mismatches.csv",
                               "report.html", "summary.md", "mapping.yaml", "review.html", "workflows.md",
                               "workflows.csv"}
    assert len(re.findall(r"<svg\b", html)) == 3 and html.count('role="img"') == 3  # the three charts, inline
    assert len(set(re.findall(r'\bid="([^"]+)"', html))) == len(re.findall(r'\bid="([^"]+)"', html))  # ids unique
    assert PERSONAL not in html and "is not a valid e-mail" not in html  # values stay in the CSVs
    assert "@media print" in html and "break-inside: avoid" in html
    summary = st.read_bytes("report/summary.md").decode("utf-8")
    assert PERSONAL not in summary and OWNER not in summary and "@" not in summary.replace("`", "")


async def test_a_failed_run_gets_its_page_too(tmp_path):
    st, report = await staged_run(tmp_path, failure=FAILURE)
    assert report["status"] == "failed" and "report.html" in report["files"]
    text = text_of(page(st))
    assert "The run failed in load_chunk (contact): " + FAILURE["message"] in text
    assert "not done" in text
    assert "**The run failed in load_chunk / contact:**" in st.read_bytes("report/summary.md").decode("utf-8")


async def test_a_run_that_failed_before_anything_moved_still_renders(tmp_path):
    from tests.failures.staged import new_run
    from shared.steps.report import final_report

    run, st = new_run(tmp_path)
    await final_report({"run": run.model_dump(), "objects": [], "failure": {**FAILURE, "activity": "discover",
                                                                             "object": None}})
    text = text_of(page(st))
    assert "The run failed in discover" in text and "No chunk of records was loaded" in text
    assert "No map was approved in this run" in text


def test_429s_of_a_shared_client_are_counted_once_and_rows_spread_over_their_chunk():
    t0 = datetime(2025, 3, 1, 9, tzinfo=timezone.utc)

    def at(s: float) -> str:
        return (t0 + timedelta(seconds=s)).isoformat()

    # two chunks loading at once through one client (its counter goes 0 -> 4 -> 6), a third on another worker
    timings = [{"started": at(0), "ended": at(10), "rows": 1000, "client": "1:a", "throttled": [0, 4]},
               {"started": at(5), "ended": at(20), "rows": 1500, "client": "1:a", "throttled": [1, 6]},
               {"started": at(10), "ended": at(20), "rows": 500, "client": "2:b", "throttled": [7, 9]}]
    s = charts.throughput_series(timings, buckets=4)
    assert s["seconds"] == 20 and s["busy"] == 20 and s["rows"] == 3000
    assert s["total_429"] == 6 + 2  # not 4 + 5 + 2: the shared counter's growth, once
    assert round(sum(r * 5 for r in s["rate"])) == 3000  # records/s x bucket width gives every row back
    assert s["rate"][0] == 100  # 0-5 s: only the first chunk, 1000 rows over 10 s
    gap = charts.throughput_series([timings[0], {**timings[2], "started": at(30), "ended": at(40)}], buckets=4)
    assert gap["seconds"] == 40 and gap["busy"] == 20  # loading time, not the waits between waves


async def test_the_page_is_the_same_for_the_same_run(tmp_path):
    st, report = await staged_run(tmp_path)
    first = render_report(report_context(st, report))
    again = render_report(report_context(st, report))
    assert first == again  # charts included: no date, stable ids


def test_chart_text_is_escaped_and_read_literally():
    svg = charts.reasons_chart([{"reason": "<script>x</script> $a$ & b", "rejects": 1, "warnings": 2}])
    assert "<script>" not in svg and "&lt;script&gt;x&lt;/script&gt; $a$ &amp; b" in svg  # text, not mathtext
    assert svg.startswith("<svg") and "<?xml" not in svg and "<metadata>" not in svg
