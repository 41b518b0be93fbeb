"""Hostile inputs SECURITY.md lists that no other test covered: a document's path leaving the export, a
quote in a value that goes into an OData filter. (The others are named in SECURITY.md.)"""

from __future__ import annotations

import os
from types import SimpleNamespace

import httpx
import pytest

from emulators.dataverse.core import create_core_app
from shared.dataverse.keys import in_filter, key_literal
from shared.steps.documents import DocumentUnavailable, _open_csv

SECRET = b"outside the export"


@pytest.fixture
def export(tmp_path):
    """An export whose files/ holds one document, beside a file it must never hand out."""
    (tmp_path / "export" / "files" / "company").mkdir(parents=True)
    (tmp_path / "export" / "files" / "company" / "offer.pdf").write_bytes(b"the offer")
    (tmp_path / "outside.txt").write_bytes(SECRET)
    os.symlink(tmp_path / "outside.txt", tmp_path / "export" / "files" / "company" / "link.pdf")
    return SimpleNamespace(input=str(tmp_path / "export"))


@pytest.mark.parametrize("path", ["../../outside.txt", "company/../../../outside.txt", "..\\..\\outside.txt",
                                  "company/link.pdf"])
def test_a_document_path_that_leaves_the_export_is_refused(export, path):
    with pytest.raises(DocumentUnavailable) as refused:
        _open_csv(export, {"Path": path, "FileName": "offer.pdf"})
    assert refused.value.code == "invalid_document"
    assert "leaves the export's files/ folder" in refused.value.message


def test_an_absolute_document_path_stays_inside_the_export(export):
    with pytest.raises(DocumentUnavailable) as refused:
        _open_csv(export, {"Path": "/etc/passwd", "FileName": "passwd"})
    assert refused.value.code == "missing_file" and "files/etc/passwd" in refused.value.message
    with _open_csv(export, {"Path": "company/offer.pdf", "FileName": "offer.pdf"}) as f:
        assert f.read() == b"the offer"


HOSTILE = "x' or isdisabled eq true or internalemailaddress eq 'y@contoso.com"


async def test_a_quote_in_an_email_cannot_widen_the_owner_query():
    """The default owner is looked up as discovery does (shared/steps/discover.py): the e-mail is one
    OData literal, so a quote in it cannot add conditions; the same text pasted raw would."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_core_app()),
                                 base_url="https://org.crm.dynamics.com/api/data/v9.2/") as dv:
        for email, disabled in [("admin@contoso.com", False), ("former@contoso.com", True)]:
            r = await dv.post("systemusers", json={"internalemailaddress": email, "isdisabled": disabled})
            assert r.status_code == 204

        async def active(literal: str) -> list[str]:
            flt = f"internalemailaddress eq {literal} and isdisabled eq false"
            r = await dv.get("systemusers", params={"$select": "internalemailaddress", "$filter": flt})
            assert r.status_code == 200, r.text
            return [u["internalemailaddress"] for u in r.json()["value"]]

        assert await active(key_literal("admin@contoso.com")) == ["admin@contoso.com"]
        assert await active(key_literal(HOSTILE)) == []
        assert await active(f"'{HOSTILE}'") == ["former@contoso.com"]  # the injection, had it been pasted raw
        emails = in_filter("internalemailaddress", [HOSTILE, "o'brien@x.co"])
        r = await dv.get("systemusers", params={"$filter": emails})
        assert r.status_code == 200 and r.json()["value"] == []
