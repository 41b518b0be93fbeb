import hashlib
import io
import os
import time

import pytest

from emulators.graph import FaultRule, Throttle
from shared.sharepoint import ContentMismatch, GraphThrottled, ItemExists, quickxorhash_b64

MIB = 1024 * 1024


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Counter:
    """Counts fragment PUTs by wrapping the app's fault table with a rule that never fires."""

    def __init__(self, app):
        self.rule = FaultRule("500", method="PUT", path="uploadSession$", skip=10**9)
        app.state.faults.add(self.rule)

    @property
    def count(self):
        return self.rule.hits


async def test_resolve_and_ensure_folder_idempotent(sp, drive_id):
    a = await sp.ensure_folder(drive_id, "Accounts/Contoso_0f3a")
    b = await sp.ensure_folder(drive_id, "/Accounts/Contoso_0f3a/")
    assert a.id == b.id and a.is_folder and a.name == "Contoso_0f3a"
    kids = await sp.list_children(drive_id)
    assert [k.name for k in kids] == ["Accounts"]


async def test_small_upload_byte_exact(sp, drive_id):
    data = os.urandom(200_000)
    item = await sp.upload_file(drive_id, "Accounts/A", "quote #1.pdf", io.BytesIO(data), len(data), _sha(data))
    assert item.outcome == "created" and item.size == len(data)
    assert item.quick_xor_hash == quickxorhash_b64(data)
    assert await sp.download(drive_id, item.id) == data


async def test_large_upload_byte_exact(app, sp, drive_id, tmp_path):
    data = os.urandom(25 * MIB + 12345)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    counter = Counter(app)
    item = await sp.upload_file(drive_id, "Big", "big.bin", str(path), sha256=_sha(data))
    assert item.outcome == "created" and item.size == len(data)
    assert counter.count == -(-len(data) // sp.fragment_size)  # fragments of 10 x 320 KiB
    out = io.BytesIO()
    assert await sp.download(drive_id, item.id, out) == len(data)
    assert out.getvalue() == data


@pytest.mark.parametrize("action", ["drop", "drop_after", "503", "expire"])
async def test_resume_after_injected_fault(app, sp, drive_id, action):
    data = os.urandom(6 * MIB + 7)
    app.state.faults.add(FaultRule(action, method="PUT", path="uploadSession$", skip=1, retry_after=0.01))
    item = await sp.upload_file(drive_id, "Docs", "resume.bin", io.BytesIO(data), len(data), _sha(data))
    assert item.size == len(data) and await sp.download(drive_id, item.id) == data


async def test_last_fragment_answer_lost(app, sp, drive_id):
    data = os.urandom(5 * MIB)
    n = -(-len(data) // sp.fragment_size)
    app.state.faults.add(FaultRule("drop_after", method="PUT", path="uploadSession$", skip=n - 1))
    item = await sp.upload_file(drive_id, "Docs", "last.bin", io.BytesIO(data), len(data))
    assert await sp.download(drive_id, item.id) == data


async def test_throttling_honoured(app, sp, drive_id):
    app.state.faults.add("* /sites/ 429 x2 ra=0.3")
    t0 = time.monotonic()
    site = await sp.resolve_site("contoso.sharepoint.com", "/sites/crm")
    assert site["id"] and time.monotonic() - t0 >= 0.6
    app.state.faults.add("* /sites/ 503 x1 ra=900")
    with pytest.raises(GraphThrottled) as err:
        await sp.resolve_site("contoso.sharepoint.com", "/sites/crm")
    assert err.value.retry_after == 900


async def test_throttled_fragments_honoured(app, sp, drive_id):
    data = os.urandom(5 * MIB)
    app.state.faults.add(FaultRule("429", method="PUT", path="uploadSession$", skip=1, times=2, retry_after=0.2))
    t0 = time.monotonic()
    item = await sp.upload_file(drive_id, "Docs", "thr.bin", io.BytesIO(data), len(data))
    assert time.monotonic() - t0 >= 0.4 and await sp.download(drive_id, item.id) == data


async def test_rate_limit_throttle():
    import httpx

    from emulators.graph import create_app, mint_token
    from shared.auth import StaticToken
    from shared.http import register_transport, unregister_transport
    from shared.sharepoint import SharePointClient

    app = create_app(throttle=Throttle(limit=3, window=0.3, retry_after=0.3))
    register_transport("https://graph.microsoft.com", lambda: httpx.ASGITransport(app=app))
    try:
        async with SharePointClient(StaticToken(mint_token(app))) as sp:
            site = await sp.resolve_site("contoso.sharepoint.com", "/sites/crm")
            drive_id = (await sp.default_drive(site["id"]))["id"]
            for i in range(3):  # 12+ requests against a budget of 3 per 0.3 s
                await sp.ensure_folder(drive_id, f"T/{i}")
            assert len(await sp.list_children(drive_id, (await sp.get_item_by_path(drive_id, "T")).id)) == 3
    finally:
        unregister_transport("https://graph.microsoft.com")


@pytest.mark.parametrize("size", [1000, 5 * MIB])
async def test_sha256_mismatch_rejected(sp, drive_id, size):
    data = os.urandom(size)
    with pytest.raises(ContentMismatch, match="bad.bin"):
        await sp.upload_file(drive_id, "Docs", "bad.bin", io.BytesIO(data), size, _sha(b"other"))
    assert await sp.get_item_by_path(drive_id, "Docs/bad.bin") is None


async def test_size_mismatch_rejected(sp, drive_id):
    with pytest.raises(ContentMismatch, match="short.bin"):
        await sp.upload_file(drive_id, "Docs", "short.bin", io.BytesIO(b"abc"), 10)


@pytest.mark.parametrize("size", [1000, 5 * MIB])
async def test_idempotent_reupload(app, sp, drive_id, size):
    data = os.urandom(size)
    first = await sp.upload_file(drive_id, "Docs", "same.bin", io.BytesIO(data), size)
    assert first.outcome == "created"
    counter = Counter(app)
    again = await sp.upload_file(drive_id, "Docs", "same.bin", io.BytesIO(data), size)
    assert again.outcome == "unchanged" and again.id == first.id and counter.count == 0


@pytest.mark.parametrize("size", [1000, 5 * MIB])
async def test_other_content_at_the_name_is_reported_not_replaced(sp, drive_id, size):
    data, changed = os.urandom(size), os.urandom(size)
    first = await sp.upload_file(drive_id, "Docs", "same.bin", io.BytesIO(data), size)
    with pytest.raises(ItemExists) as err:
        await sp.upload_file(drive_id, "Docs", "same.bin", io.BytesIO(changed), size)
    assert err.value.item.id == first.id and "Docs/same.bin" in str(err.value)
    assert await sp.download(drive_id, first.id) == data  # untouched
    with pytest.raises(ItemExists):  # another size, and a stream that cannot seek
        await sp.upload_file(drive_id, "Docs", "same.bin", Unseekable(changed[:10]), 10)


class Unseekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        chunk = self._f.read(len(b))
        b[:len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("size", [1000, 5 * MIB])
async def test_before_write_runs_only_for_a_verified_new_file(sp, drive_id, size):
    data = os.urandom(size)
    calls = []

    async def before_write() -> None:
        calls.append(1)
        await sp.ensure_folder(drive_id, "Lazy")

    with pytest.raises(ContentMismatch):
        await sp.upload_file(drive_id, "Lazy", "x.bin", io.BytesIO(data), size, _sha(b"other"),
                             before_write=before_write)
    assert calls == [] and await sp.get_item_by_path(drive_id, "Lazy") is None  # nothing created
    item = await sp.upload_file(drive_id, "Lazy", "x.bin", io.BytesIO(data), size, _sha(data),
                                before_write=before_write)
    assert calls == [1] and item.outcome == "created"
    again = await sp.upload_file(drive_id, "Lazy", "x.bin", io.BytesIO(data), size, before_write=before_write)
    assert calls == [1] and again.outcome == "unchanged"


@pytest.mark.parametrize("size", [1000, 5 * MIB])
async def test_a_file_that_appears_meanwhile_is_never_replaced(sp, drive_id, size):
    data, theirs = os.urandom(size), os.urandom(size)

    async def someone_else_uploads(content: bytes):
        async def hook() -> None:
            await sp.upload_file(drive_id, "Race", "r.bin", io.BytesIO(content), size)
        return hook

    with pytest.raises(ItemExists):
        await sp.upload_file(drive_id, "Race", "r.bin", io.BytesIO(data), size,
                             before_write=await someone_else_uploads(theirs))
    item = await sp.get_item_by_path(drive_id, "Race/r.bin")
    assert await sp.download(drive_id, item.id) == theirs
    await sp.request("DELETE", f"/drives/{drive_id}/items/{item.id}")
    same = await sp.upload_file(drive_id, "Race", "r.bin", io.BytesIO(data), size,
                                before_write=await someone_else_uploads(data))
    assert same.outcome == "unchanged"


async def test_retry_after_waits_are_bounded_per_request(app, drive_id):
    from emulators.graph import mint_token
    from shared.auth import StaticToken
    from shared.sharepoint import SharePointClient

    app.state.faults.add("* /sites/ 429 x3 ra=0.3")
    async with SharePointClient(StaticToken(mint_token(app)), max_retry_after=0.5) as sp:
        t0 = time.monotonic()
        with pytest.raises(GraphThrottled) as err:
            await sp.resolve_site("contoso.sharepoint.com", "/sites/crm")
        assert err.value.retry_after == pytest.approx(0.3) and 0.3 <= time.monotonic() - t0 < 0.6
