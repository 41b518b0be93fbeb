import os

import httpx
import pytest

from emulators.graph import FRAGMENT_QUANTUM, FaultRule, Throttle, create_app, mint_token
from shared.sharepoint.quickxorhash import quickxorhash_b64

from .conftest import GRAPH


def _err(resp: httpx.Response) -> str:
    body = resp.json()
    assert set(body["error"]) >= {"code", "message", "innerError"}
    return body["error"]["code"]


async def test_sites_and_drives(graph):
    site = (await graph.get("/sites/contoso.sharepoint.com:/sites/crm")).json()
    assert site["id"].startswith("contoso.sharepoint.com,") and site["webUrl"] == "https://contoso.sharepoint.com/sites/crm"
    assert (await graph.get(f"/sites/{site['id']}")).json()["id"] == site["id"]
    drives = (await graph.get(f"/sites/{site['id']}/drives")).json()["value"]
    assert [d["name"] for d in drives] == ["Documents"] and drives[0]["driveType"] == "documentLibrary"
    drive = (await graph.get(f"/sites/{site['id']}/drive")).json()
    root = (await graph.get(f"/drives/{drive['id']}/root")).json()
    assert "root" in root and root["folder"]["childCount"] == 0
    missing = await graph.get("/sites/contoso.sharepoint.com:/sites/nope")
    assert missing.status_code == 404 and _err(missing) == "itemNotFound"


async def test_auth_required(app, anon):
    r = await anon.get("/v1.0/sites/contoso.sharepoint.com:/sites/crm")
    assert r.status_code == 401 and _err(r) == "InvalidAuthenticationToken"
    r = await anon.get("/v1.0/sites/contoso.sharepoint.com:/sites/crm", headers={"Authorization": "Bearer x.y.z"})
    assert r.status_code == 401
    other = create_app()  # a token of another emulator instance is not accepted
    r = await anon.get("/v1.0/sites/contoso.sharepoint.com:/sites/crm",
                       headers={"Authorization": f"Bearer {mint_token(other)}"})
    assert r.status_code == 401


async def test_folders_and_conflicts(graph, drive):
    d = drive["id"]
    r = await graph.post(f"/drives/{d}/root/children", json={"name": "Accounts", "folder": {}})
    assert r.status_code == 201 and r.json()["folder"]["childCount"] == 0
    folder = r.json()
    r = await graph.post(f"/drives/{d}/items/{folder['parentReference']['id']}/children",
                         json={"name": "accounts", "folder": {}, "@microsoft.graph.conflictBehavior": "fail"})
    assert r.status_code == 409 and _err(r) == "nameAlreadyExists"
    r = await graph.post(f"/drives/{d}/root/children",
                         json={"name": "Accounts", "folder": {}, "@microsoft.graph.conflictBehavior": "rename"})
    assert r.json()["name"] == "Accounts 1"
    r = await graph.post(f"/drives/{d}/root/children", json={"name": "bad:name", "folder": {}})
    assert r.status_code == 400 and _err(r) == "invalidRequest"
    got = await graph.get(f"/drives/{d}/root:/Accounts")
    assert got.json()["id"] == folder["id"]
    assert (await graph.get(f"/drives/{d}/root:/Accounts/missing.txt")).status_code == 404
    kids = (await graph.get(f"/drives/{d}/root/children", params={"$top": 1})).json()
    assert len(kids["value"]) == 1 and "@odata.nextLink" in kids
    nxt = (await graph.get(kids["@odata.nextLink"])).json()
    assert [k["name"] for k in nxt["value"]] == ["Accounts 1"] and "@odata.nextLink" not in nxt


async def test_simple_upload_creates_folders_and_downloads(graph, anon, drive):
    d = drive["id"]
    data = os.urandom(100_000)
    r = await graph.put(f"/drives/{d}/root:/A/B/report.pdf:/content", content=data)
    assert r.status_code == 201
    item = r.json()
    assert item["size"] == len(data) and item["file"]["mimeType"] == "application/pdf"
    assert item["file"]["hashes"] == {"quickXorHash": quickxorhash_b64(data)}
    assert item["parentReference"]["path"] == f"/drives/{d}/root:/A/B"
    assert item["webUrl"] == "https://contoso.sharepoint.com/sites/crm/Shared%20Documents/A/B/report.pdf"
    assert {"createdDateTime", "lastModifiedDateTime"} <= set(item["fileSystemInfo"])
    folder = (await graph.get(f"/drives/{d}/root:/A/B")).json()
    assert folder["folder"]["childCount"] == 1
    r = await graph.put(f"/drives/{d}/items/{folder['id']}:/report.pdf:/content", content=b"v2")
    assert r.status_code == 200 and r.json()["id"] == item["id"] and r.json()["size"] == 2
    r = await graph.put(f"/drives/{d}/items/{folder['id']}:/report.pdf:/content", content=b"v3",
                        params={"@microsoft.graph.conflictBehavior": "fail"})
    assert r.status_code == 409
    content = await graph.get(f"/drives/{d}/items/{item['id']}/content")
    assert content.status_code == 302
    dl = await anon.get(content.headers["location"])  # pre-authenticated: no bearer needed
    assert dl.content == b"v2"
    assert (await graph.get(f"/drives/{d}/root:/A/B/report.pdf")).json()["@microsoft.graph.downloadUrl"]


async def test_simple_upload_limit(graph, drive):
    r = await graph.put(f"/drives/{drive['id']}/root:/big.bin:/content", content=b"x" * (2 * 1024 * 1024 + 1))
    assert r.status_code == 413


async def _session(graph, drive, name="big.bin", **item):
    r = await graph.post(f"/drives/{drive['id']}/root:/Docs/{name}:/createUploadSession",
                         json={"item": {"@microsoft.graph.conflictBehavior": "replace", **item}})
    assert r.status_code == 200
    body = r.json()
    assert body["uploadUrl"] and body["expirationDateTime"]
    return body["uploadUrl"]


def _rng(start, data, total):
    return {"Content-Range": f"bytes {start}-{start + len(data) - 1}/{total}"}


async def test_upload_session_rules(graph, anon, drive):
    q = FRAGMENT_QUANTUM
    data = os.urandom(3 * q + 1000)
    total = len(data)
    url = await _session(graph, drive)
    # not a multiple of 320 KiB (and not the last fragment)
    r = await anon.put(url, content=data[:q + 1], headers=_rng(0, data[:q + 1], total))
    assert r.status_code == 400 and _err(r) == "invalidRequest"
    # Authorization header on the upload URL -> 401
    r = await anon.put(url, content=data[:q], headers={**_rng(0, data[:q], total), "Authorization": "Bearer x"})
    assert r.status_code == 401
    r = await anon.put(url, content=data[:q], headers=_rng(0, data[:q], total))
    assert r.status_code == 202 and r.json()["nextExpectedRanges"] == [f"{q}-{total - 1}"]
    # resend of received bytes -> 416
    r = await anon.put(url, content=data[:q], headers=_rng(0, data[:q], total))
    assert r.status_code == 416 and _err(r) == "invalidRange"
    # out of order -> 416
    r = await anon.put(url, content=data[2 * q:3 * q], headers=_rng(2 * q, data[2 * q:3 * q], total))
    assert r.status_code == 416
    # status (resume)
    r = await anon.get(url)
    assert r.status_code == 200 and r.json()["nextExpectedRanges"] == [f"{q}-{total - 1}"]
    r = await anon.put(url, content=data[q:3 * q], headers=_rng(q, data[q:3 * q], total))
    assert r.status_code == 202
    r = await anon.put(url, content=data[3 * q:], headers=_rng(3 * q, data[3 * q:], total))
    assert r.status_code == 201
    item = r.json()
    assert item["size"] == total and item["file"]["hashes"]["quickXorHash"] == quickxorhash_b64(data)
    assert (await anon.get(url)).status_code == 404  # completed sessions are gone
    content = await graph.get(f"/drives/{drive['id']}/items/{item['id']}/content")
    assert (await anon.get(content.headers["location"])).content == data
    # replacing through a new session answers 200 with the same item
    url = await _session(graph, drive)
    r = await anon.put(url, content=b"tiny", headers=_rng(0, b"tiny", 4))
    assert r.status_code == 200 and r.json()["id"] == item["id"] and r.json()["size"] == 4


async def test_upload_session_conflict_fail(graph, drive):
    await graph.put(f"/drives/{drive['id']}/root:/Docs/x.bin:/content", content=b"1")
    r = await graph.post(f"/drives/{drive['id']}/root:/Docs/x.bin:/createUploadSession",
                         json={"item": {"@microsoft.graph.conflictBehavior": "fail"}})
    assert r.status_code == 409 and _err(r) == "nameAlreadyExists"


async def test_upload_session_expiry_and_cancel(graph, anon, drive, clock):
    q = FRAGMENT_QUANTUM
    data = os.urandom(2 * q)
    url = await _session(graph, drive)
    assert (await anon.put(url, content=data[:q], headers=_rng(0, data[:q], len(data)))).status_code == 202
    clock.now += 899  # each fragment extends the session
    assert (await anon.get(url)).status_code == 200
    clock.now += 2
    r = await anon.put(url, content=data[q:], headers=_rng(q, data[q:], len(data)))
    assert r.status_code == 404 and _err(r) == "itemNotFound"
    url = await _session(graph, drive)
    assert (await anon.delete(url)).status_code == 204
    assert (await anon.get(url)).status_code == 404
    assert (await graph.get(f"/drives/{drive['id']}/root:/Docs/big.bin")).status_code == 404


async def test_fragment_limit_60_mib(graph, anon, drive):
    url = await _session(graph, drive)
    total, n = 200 * 1024 * 1024, 192 * FRAGMENT_QUANTUM  # 192 x 320 KiB = 60 MiB: too big
    r = await anon.put(url, content=b"", headers={"Content-Range": f"bytes 0-{n - 1}/{total}", "Content-Length": str(n)})
    assert r.status_code == 413


async def test_throttling_retry_after():
    app = create_app(throttle=Throttle(limit=2, window=60, retry_after=400))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=GRAPH,
                                 headers={"Authorization": f"Bearer {mint_token(app)}"}) as c:
        for _ in range(2):
            assert (await c.get("/v1.0/sites/contoso.sharepoint.com:/sites/crm")).status_code == 200
        r = await c.get("/v1.0/sites/contoso.sharepoint.com:/sites/crm")
        assert r.status_code == 429 and r.headers["retry-after"] == "400"
        assert _err(r) == "activityLimitReached"


async def test_scripted_faults(app, graph, drive):
    app.state.faults.add("GET /root$ 503 x1 ra=7")
    r = await graph.get(f"/drives/{drive['id']}/root")
    assert r.status_code == 503 and r.headers["retry-after"] == "7" and _err(r) == "serviceNotAvailable"
    assert (await graph.get(f"/drives/{drive['id']}/root")).status_code == 200
    app.state.faults.add([FaultRule("drop", method="GET", path="/root$")])
    with pytest.raises(httpx.RemoteProtocolError):
        await graph.get(f"/drives/{drive['id']}/root")
