"""The steps ``acquire_run_lease`` / ``release_run_lease``: a second run of the same migration is refused
with a message that says what to do; a retried activity of the same run goes through."""

from __future__ import annotations

import pytest

from shared.errors import PermanentError
from shared.run import RunConfig
from shared.steps import STEPS
from shared.steps.lease import acquire_run_lease, forget_run, release_run_lease
from shared.staging import StagingLeaseError, open_staging


@pytest.fixture
def run(tmp_path) -> dict:
    return RunConfig(run_id="contoso-1", source="worketc-csv", input=str(tmp_path / "export"),
                     target="https://contoso.crm.dynamics.com", staging=str(tmp_path / "staging")).model_dump()


async def test_a_second_run_is_refused_until_the_first_releases(run) -> None:
    first, second = {"run": run, "lease": "token-1"}, {"run": run, "lease": "token-2"}
    held = await acquire_run_lease(first)
    assert set(held) == {"lease", "since", "host"}
    assert await acquire_run_lease(first) == held  # the same run's retried activity
    with pytest.raises(PermanentError) as refused:
        await acquire_run_lease(second)
    message = str(refused.value)
    assert message.startswith("run contoso-1 is already in progress (since ")
    assert held["host"] in message and "--take-over" in message and '"take_over": true' in message
    assert await release_run_lease(second) == {"released": False}
    assert await release_run_lease(first) == {"released": True}
    assert (await acquire_run_lease(second))["since"] >= held["since"]


async def test_registered_steps_return_the_refusal_as_a_failure(run) -> None:
    await STEPS["acquire_run_lease"]({"run": run, "lease": "token-1"})
    result = await STEPS["acquire_run_lease"]({"run": run, "lease": "token-2"})
    assert result["failure"]["kind"] == "permanent"
    assert "already in progress" in result["failure"]["message"]
    assert (await STEPS["release_run_lease"]({"run": run, "lease": "token-1"})) == {"released": True}


async def test_take_over_is_the_operators_word_that_the_holder_is_dead(run) -> None:
    await acquire_run_lease({"run": run, "lease": "token-1"})
    await acquire_run_lease({"run": {**run, "take_over": True}, "lease": "token-2"})
    with pytest.raises(PermanentError):
        await acquire_run_lease({"run": run, "lease": "token-1"})


@pytest.mark.parametrize("payload", [{}, {"lease": ""}, {"lease": 7}])
async def test_a_lease_token_is_required(run, payload) -> None:
    with pytest.raises(PermanentError, match="lease token"):
        await acquire_run_lease({"run": run, **payload})


def test_fresh_wipes_a_run_only_under_its_lease(run) -> None:
    st = open_staging(run["staging"], prefix="runs/contoso-1")
    st.write_json("objects/company/extract.json", {})
    st.write_json("owners.json", {})
    st.acquire_lease("run.lease", "live-run")
    with pytest.raises(StagingLeaseError):
        forget_run(st, "cli-fresh")
    assert st.exists("owners.json")
    st.release_lease("run.lease", "live-run")
    forget_run(st, "cli-fresh")
    assert st.list("") == []
    st.acquire_lease("run.lease", "next-run")  # forget_run released what it took
