"""Per-object progress counts Dataverse's 429 answers: ``load_chunk`` leaves a few bytes per throttled chunk
(``load/<part>.throttled.json``) that ``shared/steps/progress.py`` reads; chunks loading at once share the
worker's client, so a 429 is counted once."""

from __future__ import annotations

import httpx

from cli.app import main
from shared import http as shared_http
from shared.staging import open_staging
from shared.steps.progress import answers_429, object_progress
from tests.failures.helpers import TARGET
from tests.failures.conftest import environment, export  # noqa: F401 - fixtures, used by name

#: Dataverse's answer when a service protection limit is hit (learn.microsoft.com/power-apps/developer/
#: data-platform/api-limits#retry-operations): 429, Retry-After, the error code of the limit
THROTTLED = {"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit of 6000 over time "
                                                       "window of 300 seconds."}}


class Throttling(httpx.AsyncBaseTransport):
    """The first ``left["n"]`` UpsertMultiple requests answer 429 (Retry-After 0); the rest reach the emulator."""

    def __init__(self, inner: httpx.AsyncBaseTransport, left: dict):
        self.inner, self.left = inner, left

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(".UpsertMultiple") and self.left["n"] > 0:
            self.left["n"] -= 1
            self.left["sent"] += 1
            return httpx.Response(429, headers={"Retry-After": "0"}, json=THROTTLED)
        return await self.inner.handle_async_request(request)


def test_the_progress_counts_dataverse_429_answers_per_object(tmp_path, export, environment):  # noqa: F811
    left = {"n": 3, "sent": 0}
    shared_http.register_transport(TARGET, lambda: Throttling(httpx.ASGITransport(app=environment.app), left))
    out = tmp_path / "out"
    assert main(["migrate", "--input", str(export), "--target", TARGET, "--out", str(out), "--only", "company",
                 "--chunk-size", "10", "--auto-approve", "--owners", "use-default"]) == 0
    assert left["sent"] == 3
    [run_dir] = (out / "staging" / "runs").iterdir()
    st = open_staging(str(out / "staging"), prefix=f"runs/{run_dir.name}/")
    counters = [n for n in st.list("objects/company/load/") if n.endswith(".throttled.json")]
    assert 1 <= len(counters) <= 3
    progress = object_progress(st, "company")
    assert progress["dataverse_429"] == 3
    assert progress["chunks"]["loaded"] == progress["chunks"]["total"] >= 3  # the counters are not load results
    assert "dataverse_429" not in object_progress(st, "user")  # not throttled: no counter, no count


def test_overlapping_chunks_count_a_429_once():
    a = {"client": "1:ab:5.0", "throttled": [0, 3]}
    b = {"client": "1:ab:5.0", "throttled": [2, 5]}  # loaded while a did: 429s 2..3 slowed both
    c = {"client": "2:cd:7.0", "throttled": [10, 11]}  # another worker's client
    assert answers_429([a, b, c]) == 5 + 1
    assert answers_429([{"client": "x", "throttled": [4, 4]}]) == 0
