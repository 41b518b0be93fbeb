"""GET /api/migrations/{id} shows per-object progress while a run loads: wave, phase, extraction slices,
chunks and records done of total, chunks waiting on SharePoint's throttling; counts only."""

from __future__ import annotations

import json

from shared.staging import open_staging, write_chunks
from tests.http.conftest import body_of, call, request


async def _get(instance_id: str) -> dict:
    response = await call("migration_status", request("GET", f"migrations/{instance_id}", instance_id=instance_id))
    assert response.status_code == 200
    return body_of(response)


def _stage(tmp_path) -> str:
    staging = str(tmp_path / "staging")
    st = open_staging(staging, prefix="runs/contoso-1/")
    rows = [{"EntityID": str(i), "Name": f"Secret Person {i}"} for i in range(25)]
    manifest = write_chunks(st, "objects/company/extract", rows, object_name="company", chunk_size=10)
    for part in ("part-00000", "part-00001"):
        st.write_json(f"objects/company/transform/{part}.json", {"rows": 10})
    st.write_json("objects/company/load/part-00000.json", {"outcomes": []})
    st.write_json("objects/document/load/part-00003.retry.json", {"attempts": 1})
    st.write_json("objects/contact/extract/slices/00000.json", {"slice": 0})
    st.write_json("objects/contact/extract/slices/00001.json", {"slice": 1})
    assert [c.records for c in manifest.chunks] == [10, 10, 5]
    return staging


async def test_a_loading_run_shows_each_objects_progress(host, settings, tmp_path):
    run = {"run_id": "contoso-1", "source": "worketc-csv", "input": "imports/contoso",
           "target": "https://contoso.crm.dynamics.com", "staging": _stage(tmp_path)}
    plan = [["user"], ["company", "contact"], ["document"]]
    host.set_status("contoso-1", "Running", input=json.dumps(run),
                    customStatus={"phase": "loading", "wave": 2, "waves": 3, "objects": ["company", "contact"],
                                  "done": ["user"], "plan": plan})
    host.set_status("contoso-1:user", "Completed", customStatus={"object": "user", "phase": "done",
                                                                 "report": {"unmatched_owners": {"a@b.com": 1}}})
    host.set_status("contoso-1:company", "Running", customStatus={"object": "company", "phase": "loading",
                                                                  "chunks": 3})
    host.set_status("contoso-1:contact", "Running", customStatus={"object": "contact", "phase": "extracting",
                                                                  "slices": 2, "source": 100000, "staged": 99990})
    body = await _get("contoso-1")
    objects = {o["object"]: o for o in body["objects"]}
    assert [o["object"] for o in body["objects"]] == ["user", "company", "contact", "document"]
    assert objects["company"] == {"object": "company", "wave": 2, "phase": "loading",
                                  "chunks": {"total": 3, "transformed": 2, "loaded": 1},
                                  "records": {"staged": 25, "loaded": 10}, "extract_slices": 0}
    assert objects["contact"]["phase"] == "extracting" and objects["contact"]["source"] == 100000
    assert objects["contact"]["extract_slices"] == 2 and objects["contact"]["wave"] == 2
    assert objects["user"]["phase"] == "done" and objects["document"] == {"object": "document", "wave": 3,
                                                                          "phase": "waiting"}
    text = json.dumps(body["objects"])
    assert "Secret Person" not in text and "a@b.com" not in text  # counts only, never records or e-mails


async def test_throttled_documents_are_shown(host, settings, tmp_path):
    run = {"run_id": "contoso-1", "source": "worketc-csv", "input": "/x", "target": "https://contoso.crm.dynamics.com",
           "staging": _stage(tmp_path)}
    host.set_status("contoso-1", "Running", input=json.dumps(run),
                    customStatus={"phase": "loading", "wave": 1, "plan": [["document"]], "done": []})
    host.set_status("contoso-1:document", "Running", customStatus={"object": "document", "phase": "loading",
                                                                   "pending": 1, "round": 2})
    (document,) = (await _get("contoso-1"))["objects"]
    assert document["throttled_chunks"] == 1 and (document["pending"], document["round"]) == (1, 2)


async def test_a_finished_run_or_one_not_yet_planned_shows_none(host, settings, tmp_path):
    run = {"run_id": "contoso-1", "staging": _stage(tmp_path)}
    host.set_status("contoso-1", "Running", input=json.dumps(run), customStatus={"phase": "awaiting_map_approval"})
    assert (await _get("contoso-1"))["objects"] is None
    host.set_status("contoso-1", "Completed", input=json.dumps(run), customStatus={"phase": "completed",
                                                                                   "plan": [["user"]]})
    assert (await _get("contoso-1"))["objects"] is None
