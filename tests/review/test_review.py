"""The review page as text: self-contained, everything escaped, the summary adds up, the approval
quotes the hash of the map shown, read-only entries and lossy merges marked, the owner queue."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from shared.mapping.model import label_for
from shared.mapping.review import render_review, visible

from .conftest import BIDI, FORMULA, SCRIPT


def page(proposal, **kw) -> str:
    mapping, profiles = proposal
    return render_review(mapping, profiles, run_id="review-run", map_hash=mapping.content_hash(),
                         owner_queue=kw.pop("owner_queue", None), scope=kw.pop("scope", None))


class Elements(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def card(html: str, what: str) -> int:
    return int(re.search(r'<div class="n">(\d+)</div><div class="l">' + what, html)[1])


def test_the_page_fetches_nothing_and_runs_nothing(proposal):
    html = page(proposal, scope={"target": "https://contoso.crm.dynamics.com"})
    tags = Elements(html).tags
    assert not [t for t, _ in tags if t in ("script", "link", "img", "iframe", "object", "embed", "base", "form")]
    assert all(a.get("href", "#").startswith("#") for _, a in tags), "only in-page links"
    assert not any(k.startswith("on") for _, a in tags for k in a), "no event handler attributes"
    assert "url(" not in html and "@import" not in html
    csp = next(a["content"] for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "script-src" not in csp


def test_hostile_source_values_are_text(proposal):
    html = page(proposal)
    text = "".join(Elements(html).text)
    assert SCRIPT in text and "<script" not in html.lower()
    assert FORMULA in text  # shown as it is: a page evaluates no formula
    assert "\u202e" not in html and "Acme <U+202E>Ltd" in text  # the override is shown, not obeyed
    assert visible("a\nb\tc\x00") == "a⏎b⇥c<U+0000>"


def test_the_summary_adds_up(proposal):
    mapping, _ = proposal
    html = page(proposal)
    editable = [e for o in mapping.objects for e in o.entries if not e.read_only]
    assert card(html, "objects") == len(mapping.objects)
    for label in ("sure", "likely", "unsure"):
        n = sum(label_for(e.confidence) == label for e in editable)
        assert re.search(rf'<div class="n">{n}</div><div class="l"><span class="badge {label}">', html), label
    assert card(html, "custom columns") == sum(e.custom is not None for o in mapping.objects for e in o.entries)
    lossy = [e for o in mapping.objects for e in o.entries if any(v.lossy for v in e.values)]
    assert lossy and card(html, "lossy value maps") == len(lossy)
    assert html.count('<tr class="lossy"') == sum(v.lossy for e in lossy for v in e.values)
    assert html.count('<tr class="ro"') == sum(e.read_only for o in mapping.objects for e in o.entries)


def test_how_to_approve_quotes_the_hash_of_the_map_shown(proposal):
    mapping, profiles = proposal
    html = page(proposal)
    assert "python -m cli migrate ... --approve mapping.yaml" in html
    assert "POST /api/migrations/review-run/approve" in html
    assert f'{{"hash": "{mapping.content_hash()}"}}' in html.replace("&#34;", '"')
    with pytest.raises(ValueError, match="is not the hash of the map shown"):
        render_review(mapping, profiles, run_id="review-run", map_hash="sha256:" + "0" * 64)


def test_every_column_shows_its_profile_and_confidence_label_in_text(proposal):
    mapping, profiles = proposal
    html = page(proposal)
    company = mapping.object("company")
    name = next(e for e in company.entries if e.source == "Name")
    row = re.search(r'<tr class="conf-\w+" data-source="Name" data-target="name">(.*?)</tr>', html, re.S)[1]
    assert f'<span class="badge {label_for(name.confidence)}"><span aria-hidden="true">' in row
    assert f"</span> {label_for(name.confidence)}</span>" in row  # the label as text, not only a colour
    p = profiles["company"].column("Name")
    assert f"{p.fill_rate:.0%}" in row and f"{p.distinct:,}" in row


def test_owner_queue_records_per_object_or_as_the_report_counts_them(proposal):
    html = page(proposal, owner_queue=[
        {"email": "pat@example.com", "name": "Pat <b>", "records": {"company": 3, "contact": 2}, "reason": "no user"},
        {"email": "sam@example.com", "records": 4, "objects": "deal,ticket", "reason": "disabled"}])
    text = " ".join("".join(Elements(html).text).split())
    assert "pat@example.com Pat <b> company 3, contact 2 5 no user" in text
    assert "sam@example.com deal, ticket 4 disabled" in text
    assert "Owners without a Dynamics 365 user" not in page(proposal)
    assert "Every owner has a Dynamics 365 user" in page(proposal, owner_queue=[])


def test_scope_is_shown_escaped(proposal):
    text = "".join(Elements(page(proposal, scope={"objects": ["company", "contact"], "skipped": {"x": "<i>"}})).text)
    assert "company, contact" in text and "x: <i>" in text
