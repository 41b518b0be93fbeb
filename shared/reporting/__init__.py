"""The run's report for people: one self-contained HTML page (inline CSS and SVG charts, printable) and a
Markdown summary for e-mail, built from what the report step staged (``report/report.json`` and the CSVs).
"""

from .html import HTML, MARKDOWN, render_report, report_context, write_report_pages
from .markdown import render_summary

__all__ = ["HTML", "MARKDOWN", "render_report", "render_summary", "report_context", "write_report_pages"]
