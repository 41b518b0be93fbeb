"""No file lost, none changed silently: names unique per record folder across chunks, SharePoint's
name rules, no replace, no empty folders, long throttling as a transient failure, settings checked first."""

from __future__ import annotations

import asyncio

import pytest

from shared.errors import AccessError, PermanentError, SettingsError
from shared.run import RunConfig
from shared.sharepoint.names import record_folder_name
from shared.steps.documents import check_settings, transfer_documents

from .conftest import FILES, SITE_URL, TARGET, doc_row, regarding


def _folder(env, key: str, name: str) -> str:
    return f"account/{record_folder_name(name, env.accounts[key])}"


def _warnings(env, part: str = "part-00000") -> dict[str, dict]:
    return {w["source_id"]: w for w in env.result(part)["warnings"]}


async def test_same_name_on_one_record_in_two_chunks_loaded_at_once_keeps_both(env):
    first, second, other = b"first version", b"second version", b"another record"
    part0 = [doc_row("4000001", 2, "report.pdf", env.add_file("c/4000001.pdf", first), regarding("account", "10002"))]
    part1 = [doc_row("4000002", 3, "Report.PDF", env.add_file("c/4000002.pdf", second), regarding("account", "10002")),
             doc_row("4000003", 4, "report.pdf", env.add_file("c/4000003.pdf", other), regarding("account", "10001"))]
    p0, p1 = env.stage_parts(part0, part1)
    s1, s0 = await asyncio.gather(transfer_documents(p1), transfer_documents(p0))
    assert (s0["created"], s1["created"], s0["rejected"] + s1["rejected"]) == (1, 2, 0)

    files = await env.files_in_sharepoint()
    acme, mueller = _folder(env, "10002", "Acme"), _folder(env, "10001", "Müller GmbH: Süd/Nord ")
    assert files[f"{acme}/report.pdf"] == first  # the smallest source id keeps the name
    assert files[f"{acme}/Report (4000002).PDF"] == second
    assert files[f"{mueller}/report.pdf"] == other  # another record's folder: no clash
    w = _warnings(env, "part-00001")["4000002"]
    assert w["code"] == "file_renamed" and w["value"] == "Report.PDF"
    assert "Report (4000002).PDF" in w["message"] and "account 10002" in w["message"]
    assert "4000003" not in _warnings(env, "part-00001")


async def test_a_rerun_is_unchanged_and_other_content_is_reported_not_replaced(env):
    data = b"the contract"
    rows = [doc_row("5000001", 2, "contract.pdf", env.add_file("c/5000001.pdf", data), regarding("account", "10002"))]
    payload = env.stage(rows)
    assert (await transfer_documents(payload))["created"] == 1
    st = env.staging()

    st.delete("objects/document/load/part-00000.json")  # the result is lost: the chunk runs again
    assert await transfer_documents(payload) == {"created": 0, "updated": 0, "unchanged": 1, "rejected": 0}
    assert "already in SharePoint" in env.result()["outcomes"][0]["message"]

    # the export now has other bytes for the same document: SharePoint's file is kept, the clash reported
    changed = b"the contract, amended"
    rows = [doc_row("5000001", 2, "contract.pdf", env.add_file("c/5000001.pdf", changed),
                    regarding("account", "10002"))]
    st.delete("objects/document/load/part-00000.json")
    assert (await transfer_documents(env.stage(rows)))["rejected"] == 1
    [out] = env.result()["outcomes"]
    assert out["code"] == "name_conflict" and "contract.pdf" in out["message"]
    assert (await env.files_in_sharepoint())[f"{_folder(env, '10002', 'Acme')}/contract.pdf"] == data


RENAMES = [
    ("CON.txt", "CON_.txt"), ("lpt1", "lpt1_"), ("Nul.tar.gz", "Nul_.tar.gz"), ("desktop.ini", "desktop_.ini"),
    ("~$budget.xlsx", "_~$budget.xlsx"), (".lock", "_.lock"), ("plan_vti_2.txt", "plan-vti-2.txt"),
    ("invoice\u202egpj.exe", "invoicegpj.exe"), ("memo. ", "memo"), ("  notes.txt", "notes.txt"),
    ('a:b?"c".txt', "a-b--c-.txt"), ("x\u200fy\u2066z.txt", "xyz.txt"),
]


async def test_names_sharepoint_refuses_are_renamed_with_a_warning_per_file(env):
    rows = [doc_row(f"600000{i}", 10 + i, name, env.add_file(f"c/600000{i}.bin", f"doc {i}".encode()),
                    regarding("account", "10001"))
            for i, (name, _) in enumerate(RENAMES)]
    rows.append(doc_row("6000099", 99, "fine.txt", env.add_file("c/fine.bin", b"fine"), regarding("account", "10001")))
    summary = await transfer_documents(env.stage(rows))
    assert summary == {"created": len(rows), "updated": 0, "unchanged": 0, "rejected": 0}
    files = await env.files_in_sharepoint()
    folder = _folder(env, "10001", "Müller GmbH: Süd/Nord ")
    warnings = _warnings(env)
    for i, (original, renamed) in enumerate(RENAMES):
        assert files[f"{folder}/{renamed}"] == f"doc {i}".encode(), renamed
        w = warnings[f"600000{i}"]
        assert w["code"] == "file_renamed" and w["value"] == original and w["field"] == "FileName"
        assert repr(renamed) in w["message"] and "account 10001" in w["message"]
    assert "6000099" not in warnings and len(warnings) == len(RENAMES)


async def test_long_names_are_shortened_to_fit_the_400_character_path(make):
    site_path = "/sites/" + "s" * 250
    env = await make(graph_options={"sites": [{"hostname": "contoso.sharepoint.com", "path": site_path}]},
                     site_url=f"{FILES}{site_path}")
    name = "Quarterly report " + "n" * 100 + ".pdf"
    rows = [doc_row("7000001", 2, name, env.add_file("c/7000001.pdf", b"long"), regarding("account", "10002"))]
    assert (await transfer_documents(env.stage(rows)))["created"] == 1
    files = await env.files_in_sharepoint()
    [path] = [p for p, v in files.items() if v == b"long"]
    stored = path.rsplit("/", 1)[1]
    assert stored.startswith("Quarterly report nnn") and stored.endswith(" (7000001).pdf")
    assert len(f"{site_path.strip('/')}/Shared Documents/{path}") <= 393  # 400, less an upload session's temp name
    w = _warnings(env)["7000001"]
    assert w["code"] == "file_renamed" and w["value"] == name and "400" in w["message"]


async def test_a_record_whose_files_are_all_rejected_gets_no_folder(env):
    good, bad = b"good", b"bad"
    rows = [doc_row("8000001", 2, "ok.txt", env.add_file("c/ok.txt", good), regarding("account", "10001")),
            doc_row("8000002", 3, "bad.txt", {**env.add_file("c/bad.txt", bad), "Sha256": "0" * 64},
                    regarding("account", "10002")),
            doc_row("8000003", 4, "gone.txt", {"Path": "c/gone.txt", "SizeBytes": 1, "Sha256": "1" * 64},
                    regarding("account", "10002"))]
    assert await transfer_documents(env.stage(rows)) == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 2}
    files = await env.files_in_sharepoint()
    assert f"{_folder(env, '10001', 'Müller GmbH: Süd/Nord ')}/ok.txt" in files
    assert not any(p.startswith(_folder(env, "10002", "Acme")) for p in files), sorted(files)
    async with env.dataverse() as dv:
        keys = {r["wtc_sourceid"] async for r in dv.get_all("sharepointdocumentlocations", select=["wtc_sourceid"])}
    assert "folder~3Aaccount~3A10001" in keys and "folder~3Aaccount~3A10002" not in keys


def _three(env) -> list[dict]:
    return [doc_row(f"900000{i}", i + 2, f"f{i}.txt", env.add_file(f"c/f{i}.txt", f"file {i}".encode()),
                    regarding("account", "10002")) for i in range(3)]


def _one_at_a_time(monkeypatch, max_wait: str, **more: str) -> None:
    for name, value in {"SHAREPOINT_UPLOAD_CONCURRENCY": "1", "SHAREPOINT_MAX_WAIT_SECONDS": max_wait, **more}.items():
        monkeypatch.setenv(name, value)


async def test_a_long_retry_after_fails_the_activity_for_a_later_retry(make, monkeypatch):
    env = await make(graph_options={"faults": "PUT content 429 x1 +1 ra=0.5"})  # the 2nd upload: wait 0.5 s
    _one_at_a_time(monkeypatch, "0.2")
    payload = env.stage(_three(env))
    with pytest.raises(Exception) as err:
        await transfer_documents(payload)
    assert not isinstance(err.value, PermanentError) and "0.5" in str(err.value)
    assert not env.staging().exists("objects/document/load/part-00000.json")  # no outcome is final yet

    # the orchestrator retries the activity: the first file is not sent again, the others go now
    assert await transfer_documents(payload) == {"created": 3, "updated": 0, "unchanged": 0, "rejected": 0}
    assert [o["status"] for o in env.result()["outcomes"]] == ["created"] * 3
    files = await env.files_in_sharepoint()
    assert sorted(v for v in files.values() if v) == [b"file 0", b"file 1", b"file 2"]


async def test_throttling_past_the_wait_budget_rejects_the_waiting_files(make, monkeypatch):
    env = await make(graph_options={"faults": "PUT content 429 x9 +1 ra=0.3"})
    _one_at_a_time(monkeypatch, "0.1")
    payload = env.stage(_three(env))
    for _ in range(2):  # the orchestrator's first two attempts end transiently ...
        with pytest.raises(Exception) as err:
            await transfer_documents(payload)
        assert not isinstance(err.value, PermanentError)
    summary = await transfer_documents(payload)  # ... its last one rejects what still waits, with the reason
    assert summary == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 2}
    out = {o["key"]: o for o in env.result()["outcomes"]}
    assert out["9000000"]["status"] == "created"
    for k in ("9000001", "9000002"):
        assert out[k]["code"] == "graph_throttled" and "0.3" in out[k]["message"]
    assert "f1.txt" in out["9000001"]["message"] and "f2.txt" in out["9000002"]["message"]


async def test_a_zero_wait_budget_rejects_at_once(make, monkeypatch):
    env = await make(graph_options={"faults": "PUT content 429 x9 +1 ra=0.3"})
    _one_at_a_time(monkeypatch, "0.1", SHAREPOINT_THROTTLE_BUDGET_SECONDS="0")
    assert await transfer_documents(env.stage(_three(env))) == {"created": 1, "updated": 0, "unchanged": 0,
                                                                 "rejected": 2}


def _run(**options) -> RunConfig:
    return RunConfig(run_id="docs-run", source="worketc-csv", input="/tmp/export", target=TARGET,
                     staging="/tmp/staging", **options)


def test_check_settings(monkeypatch):
    monkeypatch.setenv("GRAPH_TOKEN", "t")
    monkeypatch.setenv("SHAREPOINT_SITE_URL", SITE_URL)
    for k in ("GRAPH_URL", "SHAREPOINT_UPLOAD_CONCURRENCY", "SHAREPOINT_SIMPLE_UPLOAD_LIMIT",
              "SHAREPOINT_MAX_WAIT_SECONDS", "SHAREPOINT_THROTTLE_BUDGET_SECONDS"):
        monkeypatch.delenv(k, raising=False)
    assert check_settings(_run()) == []

    monkeypatch.delenv("SHAREPOINT_SITE_URL")
    [line] = check_settings(_run())
    assert "SHAREPOINT_SITE_URL" in line and "--skip document" in line and "https://" in line

    monkeypatch.setenv("SHAREPOINT_SITE_URL", "contoso.sharepoint.com/sites/crm")
    monkeypatch.setenv("SHAREPOINT_UPLOAD_CONCURRENCY", "four")
    monkeypatch.setenv("GRAPH_URL", "http://graph.microsoft.com/v1.0")
    problems = check_settings(_run())
    assert len(problems) == 3
    assert any("SHAREPOINT_SITE_URL" in p for p in problems)
    assert any("SHAREPOINT_UPLOAD_CONCURRENCY" in p and "four" in p for p in problems)
    assert any("GRAPH_URL" in p for p in problems)


def test_check_settings_needs_graph_credentials(monkeypatch):
    for k in ("GRAPH_TOKEN", "DATAVERSE_CLIENT_ID", "DATAVERSE_IDENTITIES", "DATAVERSE_USE_MANAGED_IDENTITY"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("SHAREPOINT_SITE_URL", SITE_URL)
    monkeypatch.setenv("DATAVERSE_TOKEN", "a Dataverse token")  # is no Graph token
    [line] = check_settings(_run())
    assert "GRAPH_TOKEN" in line


async def test_documents_without_a_site_fail_at_once(env, monkeypatch):
    monkeypatch.delenv("SHAREPOINT_SITE_URL")
    rows = [doc_row("1", 2, "a.txt", env.add_file("c/a.txt", b"a"), regarding("account", "10002"))]
    with pytest.raises(SettingsError, match="SHAREPOINT_SITE_URL"):
        await transfer_documents(env.stage(rows))


async def test_an_unknown_site_or_a_refused_identity_fails_at_once(make, monkeypatch):
    env = await make(graph_options={"faults": "GET /sites/ 403 x1"})
    rows = [doc_row("1", 2, "a.txt", env.add_file("c/a.txt", b"a"), regarding("account", "10002"))]
    payload = env.stage(rows)
    with pytest.raises(AccessError, match="Sites.Selected"):
        await transfer_documents(payload)
    monkeypatch.setenv("SHAREPOINT_SITE_URL", f"{FILES}/sites/nope")
    with pytest.raises(SettingsError, match="sites/nope"):
        await transfer_documents(payload)


async def test_a_folder_left_empty_by_a_failed_upload_is_reported(make):
    env = await make(graph_options={"faults": "PUT content 423 x1"})
    rows = [doc_row("8100001", 2, "locked.txt", env.add_file("c/locked.txt", b"x"), regarding("account", "10002"))]
    assert (await transfer_documents(env.stage(rows)))["rejected"] == 1
    w = _warnings(env)["8100001"]
    assert w["code"] == "empty_folder" and "account 10002" in w["message"]
    assert _folder(env, "10002", "Acme") in w["message"]
