from __future__ import annotations

from shared.sharepoint.names import record_folder_name
from shared.steps.documents import transfer_documents

from .conftest import FILES, SITE_URL, doc_row, make_env, regarding

MIB = 1024 * 1024


def _bytes(n: int, seed: int) -> bytes:
    block = bytes((i * 31 + seed) % 251 for i in range(65536))
    return (block * (n // len(block) + 1))[:n]


def build_chunk(env) -> tuple[list[dict], dict[str, bytes]]:
    small = "Angebot Müller.pdf".encode() + _bytes(12345, 1)
    big = _bytes(6 * MIB + 12345, 2)  # > the 4 MiB simple-upload threshold: upload session
    other = _bytes(2000, 3)
    dup = _bytes(3000, 4)
    note = _bytes(777, 5)
    rows = [
        doc_row("1000001", 2, "Angebot Müller.pdf", env.add_file("company/1000001-Angebot Müller.pdf", small),
                regarding("account", "10001")),
        doc_row("1000002", 3, "Plan: Q1?.bin", env.add_file("company/1000002-plan.bin", big),
                regarding("account", "10001")),
        doc_row("1000003", 4, "angebot müller.pdf", env.add_file("company/1000003-dup.pdf", dup),
                regarding("account", "10001")),
        doc_row("1000004", 5, "bad.txt", {**env.add_file("company/1000004-bad.txt", other), "Sha256": "0" * 64},
                regarding("account", "10002")),
        doc_row("1000005", 6, "gone.txt", {"Path": "company/1000005-gone.txt", "SizeBytes": 10, "Sha256": "1" * 64},
                regarding("account", "10002")),
        doc_row("1000006", 7, "orphan.txt", env.add_file("company/1000006-orphan.txt", other),
                regarding("account", "99999")),
        doc_row("1000007", 8, "Notiz.txt", env.add_file("contact/1000007-Notiz.txt", note),
                regarding("contact", "c-1")),
    ]
    content = {"1000001": small, "1000002": big, "1000003": dup, "1000007": note}
    return rows, content


async def _locations(env) -> list[dict]:
    async with env.dataverse() as dv:
        return [r async for r in dv.get_all(
            "sharepointdocumentlocations",
            select=["sharepointdocumentlocationid", "wtc_sourceid", "name", "relativeurl",
                    "_parentsiteorlocation_value", "_regardingobjectid_value"])]


async def _sites(env) -> list[dict]:
    async with env.dataverse() as dv:
        return [r async for r in dv.get_all("sharepointsites", select=["sharepointsiteid", "wtc_sourceid",
                                                                       "absoluteurl", "name"])]


async def _all_files(sp, drive_id: str) -> dict[str, object]:
    out: dict[str, object] = {}

    async def walk(item_id: str, prefix: str) -> None:
        for c in await sp.list_children(drive_id, item_id):
            path = f"{prefix}{c.name}"
            out[path] = c
            if c.is_folder:
                await walk(c.id, path + "/")

    await walk("root", "")
    return out


async def test_documents_end_to_end_and_rerun(env):
    rows, content = build_chunk(env)
    payload = env.stage(rows)
    summary = await transfer_documents(payload)
    assert summary == {"created": 4, "updated": 0, "unchanged": 0, "rejected": 3}

    st = env.staging()
    doc = st.read_json("objects/document/load/part-00000.json")
    by_key = {o["key"]: o for o in doc["outcomes"]}
    assert [o["key"] for o in doc["outcomes"]] == [r["key"] for r in rows]  # one outcome per row, in order
    assert {o["row"] for o in doc["outcomes"]} == {r["row"] for r in rows}
    assert by_key["1000004"]["status"] == "rejected" and by_key["1000004"]["code"] == "sha256_mismatch"
    assert "bad.txt" in by_key["1000004"]["message"]
    assert by_key["1000005"]["code"] == "missing_file" and "1000005-gone.txt" in by_key["1000005"]["message"]
    assert by_key["1000006"]["code"] == "missing_parent" and "99999" in by_key["1000006"]["message"]
    for k in content:
        assert by_key[k]["status"] == "created" and by_key[k]["id"], by_key[k]

    acc = env.accounts["10001"]
    folder = f"Müller GmbH- Süd-Nord_{acc.replace('-', '').upper()}"
    async with env.dataverse() as dv:
        contact = await dv.retrieve("contacts", env.contacts["c-1"], select=["fullname"])
    cfolder = record_folder_name(contact.get("fullname"), env.contacts["c-1"])
    async with env.sharepoint() as sp:
        site = await sp.resolve_site("contoso.sharepoint.com", "/sites/crm")
        drive = await sp.default_drive(site["id"])
        files = await _all_files(sp, drive["id"])
        expected_paths = {
            "1000001": f"account/{folder}/Angebot Müller.pdf",
            "1000002": f"account/{folder}/Plan- Q1-.bin",
            "1000003": f"account/{folder}/angebot müller (1000003).pdf",
            "1000007": f"contact/{cfolder}/Notiz.txt",
        }
        for k, path in expected_paths.items():
            assert path in files, (path, sorted(files))
            assert files[path].id == by_key[k]["id"]
            assert await sp.download(drive["id"], files[path].id) == content[k]
        assert not any("bad.txt" in p or "gone" in p or "orphan" in p for p in files)
        n_files = len(files)

    sites = await _sites(env)
    assert len(sites) == 1 and sites[0]["absoluteurl"] == SITE_URL
    locs = {r["wtc_sourceid"]: r for r in await _locations(env)}
    assert set(locs) == {"library~3AShared Documents", "library~3Aaccount", "library~3Acontact",
                         "folder~3Aaccount~3A10001", "folder~3Acontact~3Ac-1"}
    lib_root = locs["library~3AShared Documents"]
    assert lib_root["relativeurl"] == "Shared Documents"
    assert lib_root["_parentsiteorlocation_value"] == sites[0]["sharepointsiteid"]
    lib = locs["library~3Aaccount"]
    assert lib["relativeurl"] == "account"
    assert lib["_parentsiteorlocation_value"] == lib_root["sharepointdocumentlocationid"]
    rec = locs["folder~3Aaccount~3A10001"]
    assert rec["relativeurl"] == folder
    assert rec["_parentsiteorlocation_value"] == lib["sharepointdocumentlocationid"]
    assert rec["_regardingobjectid_value"] == acc
    crec = locs["folder~3Acontact~3Ac-1"]
    assert crec["relativeurl"] == cfolder and crec["_regardingobjectid_value"] == env.contacts["c-1"]
    assert crec["_parentsiteorlocation_value"] == locs["library~3Acontact"]["sharepointdocumentlocationid"]
    # account 10002 only had rejected documents: no folder, no location
    assert not any(p.startswith("account/Acme_") for p in files)

    # idempotent: the result exists -> the same summary, no work
    assert await transfer_documents(payload) == summary

    # a rerun of the chunk (result lost): nothing duplicated, every transferred file reports unchanged
    assert st.delete("objects/document/load/part-00000.json")
    again = await transfer_documents(payload)
    assert again == {"created": 0, "updated": 0, "unchanged": 4, "rejected": 3}
    doc2 = st.read_json("objects/document/load/part-00000.json")
    assert {o["key"]: o["id"] for o in doc2["outcomes"]} == {o["key"]: o["id"] for o in doc["outcomes"]}
    assert len(await _locations(env)) == len(locs) and len(await _sites(env)) == 1
    async with env.sharepoint() as sp:
        assert len(await _all_files(sp, drive["id"])) == n_files


async def test_graph_faults_are_survived(tmp_path, monkeypatch):
    faults = ("PUT content 429 x1 ra=0.05; PUT uploadSession drop_after x1 +1; * /children 503 x1 ra=0.05; "
              "GET /sites/ drop x1")
    env = await make_env(tmp_path, monkeypatch, graph_options={"faults": faults})
    try:
        rows, content = build_chunk(env)
        rows = [r for r in rows if r["key"] in content]
        summary = await transfer_documents(env.stage(rows))
        assert summary == {"created": 4, "updated": 0, "unchanged": 0, "rejected": 0}
        assert all(r.hits >= 1 for r in env.graph_app.state.faults.rules)
        doc = env.staging().read_json("objects/document/load/part-00000.json")
        async with env.sharepoint() as sp:
            site = await sp.resolve_site("contoso.sharepoint.com", "/sites/crm")
            drive = await sp.default_drive(site["id"])
            for o in doc["outcomes"]:
                assert await sp.download(drive["id"], o["id"]) == content[o["key"]]
    finally:
        from shared import http as shared_http
        from .conftest import GRAPH, TARGET
        for url in (TARGET, GRAPH, FILES):
            shared_http.unregister_transport(url)


async def test_library_per_table_when_the_site_has_one(tmp_path, monkeypatch):
    sites = [{"hostname": "contoso.sharepoint.com", "path": "/sites/crm", "drives": ["Documents", "account"]}]
    env = await make_env(tmp_path, monkeypatch, graph_options={"sites": sites})
    try:
        data = _bytes(5000, 9)
        rows = [doc_row("2000001", 2, "a.bin", env.add_file("company/a.bin", data), regarding("account", "10002"))]
        assert (await transfer_documents(env.stage(rows)))["created"] == 1
        acc = env.accounts["10002"]
        folder = f"Acme_{acc.replace('-', '').upper()}"
        async with env.sharepoint() as sp:
            site = await sp.resolve_site("contoso.sharepoint.com", "/sites/crm")
            lib = next(d for d in await sp.list_drives(site["id"]) if d["name"] == "account")
            item = await sp.get_item_by_path(lib["id"], f"{folder}/a.bin")
            assert item is not None and await sp.download(lib["id"], item.id) == data
        locs = {r["wtc_sourceid"]: r for r in await _locations(env)}
        [site_row] = await _sites(env)
        assert set(locs) == {"library~3Aaccount", "folder~3Aaccount~3A10002"}
        assert locs["library~3Aaccount"]["relativeurl"] == "account"
        assert locs["library~3Aaccount"]["_parentsiteorlocation_value"] == site_row["sharepointsiteid"]
        assert locs["folder~3Aaccount~3A10002"]["relativeurl"] == folder
    finally:
        from shared import http as shared_http
        from .conftest import GRAPH, TARGET
        for url in (TARGET, GRAPH, FILES):
            shared_http.unregister_transport(url)


async def test_a_graph_error_rejects_only_that_file_and_reconcile_balances(tmp_path, monkeypatch):
    env = await make_env(tmp_path, monkeypatch, graph_options={"faults": "PUT locked 423 x1"})
    try:
        ok, locked = _bytes(1000, 7), _bytes(1500, 8)
        rows = [doc_row("3000001", 2, "fine.txt", env.add_file("company/fine.txt", ok), regarding("account", "10002")),
                doc_row("3000002", 3, "locked.txt", env.add_file("company/locked.txt", locked),
                        regarding("account", "10002"))]
        payload = env.stage(rows)
        assert await transfer_documents(payload) == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 1}
        st = env.staging()
        out = {o["key"]: o for o in st.read_json("objects/document/load/part-00000.json")["outcomes"]}
        assert out["3000002"]["code"] == "upload_failed"
        assert "locked.txt" in out["3000002"]["message"] and "423" in out["3000002"]["message"]

        # reconcile_object counts documents like any loaded object
        from shared.steps.reconcile import reconcile_object
        from shared.problems import Problem

        chunk = payload["chunk"]
        st.write_json("objects/document/extract.json", {
            "object": "document", "source": 3, "staged": 2, "rejected": 1,
            "rejects": [Problem("document", None, "extract", "missing_key", "EntityID is empty",
                                file="documents.csv", line=4).to_dict()],
            "chunks": [{"name": "objects/document/extract/part-00000.jsonl.gz", "records": 2, "sha256": "x"}]})
        st.write_json("objects/document/transform/part-00000.json", {
            "chunk": chunk, "rows": 2, "rejected": 0, "warnings": 0, "rejects": [], "warning_rows": [],
            "unmatched_owners": {}})
        report = await reconcile_object({"run": env.run.model_dump(), "object": "document"})
        assert (report["source"], report["loaded"], report["created"], report["rejected"]) == (3, 1, 1, 2)
        assert report["balanced"]
        rejects = st.read_json("objects/document/problems.json")["rejects"]
        assert any(r["source_id"] == "3000002" and r["code"] == "upload_failed" and r["line"] == 3 for r in rejects)
    finally:
        from shared import http as shared_http
        from .conftest import GRAPH, TARGET
        for url in (TARGET, GRAPH, FILES):
            shared_http.unregister_transport(url)
