"""Whole runs through ``python -m cli migrate``: reruns say what they do, ``--fresh`` starts over,
missing and empty files are named while the run goes on, ``--skip`` leaves objects out."""

from __future__ import annotations

import json

import httpx

from cli.app import main
from shared import http as shared_http
from tests.failures.helpers import TARGET, copy_export


def migrate(tmp_path, export, *options: str, gates: tuple[str, ...] = ("--auto-approve", "--owners", "use-default")
            ) -> int:
    """``python -m cli migrate`` on the export; through the gates unless a test drives them (``gates=()``)."""
    return main(["migrate", "--input", str(export), "--target", TARGET, "--out", str(tmp_path / "out"), *options,
                 *gates])


def report(tmp_path) -> dict:
    return json.loads((tmp_path / "out" / "report.json").read_text())


def test_a_rerun_of_a_completed_run_is_its_next_pass_and_fresh_starts_over(tmp_path, export, environment, capsys):
    assert migrate(tmp_path, export) == 0
    first = report(tmp_path)
    capsys.readouterr()
    assert migrate(tmp_path, export) == 0  # issue 8 §3: the source is read again, only what changed is written
    err = " ".join(capsys.readouterr().err.split())
    assert f"run {first['run_id']}: pass 2 starts" in err
    second = report(tmp_path)
    assert second["pass"]["number"] == 2 and second["attempts"] == 1
    assert second["totals"]["created"] == second["totals"]["updated"] == 0  # nothing changed in the source
    assert migrate(tmp_path, export, "--fresh") == 0
    again = report(tmp_path)
    assert again["attempts"] == 1 and again["status"] == "completed"
    assert again["totals"] == first["totals"] | {"created": 0, "updated": again["totals"]["updated"],
                                                 "unchanged": again["totals"]["unchanged"]}


def test_missing_and_empty_files_are_named_and_the_run_goes_on(tmp_path, export, environment, capsys):
    damaged = copy_export(export, tmp_path)
    (damaged / "leads.csv").write_bytes(b"")
    (damaged / "deals.csv").unlink()
    assert migrate(tmp_path, damaged) == 0
    err = capsys.readouterr().err
    assert "leads.csv: empty; lead not migrated" in err and "deals.csv: absent; deal not migrated" in err
    r = report(tmp_path)
    assert {(f["file"], f["presence"]) for f in r["discovery"]} >= {("leads.csv", "empty"), ("deals.csv", "absent")}
    assert r["status"] == "completed" and not {"lead", "deal"} & {o["object"] for o in r["objects"]}


def test_skip_leaves_documents_out_and_the_report_says_so(tmp_path, export, environment, capsys, monkeypatch):
    monkeypatch.delenv("SHAREPOINT_SITE_URL")
    assert migrate(tmp_path, export, "--skip", "document") == 0
    assert "document: skipped by --skip" in capsys.readouterr().err
    r = report(tmp_path)
    assert r["status"] == "completed" and r["settings"]["skip"] == ["document"]
    assert [o for o in r["objects"] if o["object"] == "document"] == [
        {"object": "document", "table": "sharepointdocumentlocation", "status": "skipped",
         "reason": "skipped by --skip"}]


class RefusingContacts(httpx.AsyncBaseTransport):
    """The environment, except that the application user may not write contacts (403, as Dataverse says it)."""

    def __init__(self, app):
        self.inner = httpx.ASGITransport(app=app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method in ("POST", "PATCH") and request.url.path.startswith("/api/data/v9.2/contacts"):
            return httpx.Response(403, json={"error": {"code": "0x80040220", "message": (
                "Principal user (Id=3e2b, type=8, roleCount=1) is missing prvCreateContact privilege")}})
        return await self.inner.handle_async_request(request)


def test_a_run_that_fails_shows_its_report_and_one_line(tmp_path, export, environment, capsys):
    shared_http.register_transport(TARGET, lambda: RefusingContacts(environment.app))
    assert migrate(tmp_path, export) == 2
    err = capsys.readouterr().err
    [line] = [x for x in err.splitlines() if x.startswith("error: ")]
    assert "Dataverse refused POST /api/data/v9.2/contacts" in line and "(403)" in line and "security role" in line
    assert "Traceback" not in err
    r = report(tmp_path)
    assert r["status"] == "failed" and "prvCreateContact" in r["failure"]["message"]
    status = {o["object"]: o["status"] for o in r["objects"]}
    assert status["company"] == "reconciled" and status["contact"] == "not done"


def test_the_cli_stops_at_the_map_gate_and_approve_goes_on(tmp_path, export, environment, capsys):
    """Without --auto-approve the run proposes its map and stops (exit 3) having written nothing; an edited
    map that does not validate is refused naming the line; the map approved with --approve goes on."""
    out = tmp_path / "out"
    assert migrate(tmp_path, export, "--only", "company", gates=("--owners", "use-default")) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert "nothing has been written to Dynamics 365 yet" in err and "--approve" in err
    assert {"mapping.yaml", "review.html", "scope.md"} <= {p.name for p in out.iterdir()}
    assert not (out / "report.json").exists()

    broken = out / "broken.yaml"
    broken.write_text((out / "mapping.yaml").read_text().replace("target: telephone1", "target: telephone9", 1))
    assert migrate(tmp_path, export, "--only", "company", "--approve", str(broken),
                   gates=("--owners", "use-default")) == 2
    assert "broken.yaml:" in capsys.readouterr().err

    edited = out / "edited.yaml"
    edited.write_text((out / "mapping.yaml").read_text().replace("target: telephone1", "target: telephone2", 1))
    assert migrate(tmp_path, export, "--only", "company", "--approve", str(edited),
                   gates=("--owners", "use-default")) == 0
    r = report(tmp_path)
    assert r["status"] == "completed"
    assert (out / "mapping.yaml").read_text() == edited.read_text()  # the report keeps the map it applied


def test_approve_without_a_waiting_run_says_what_to_do(tmp_path, export, environment, capsys):
    assert migrate(tmp_path, export, "--approve", str(tmp_path / "m.yaml"), gates=()) == 2
    assert "is not waiting for a map approval" in capsys.readouterr().err
