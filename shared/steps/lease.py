"""One run at a time in a run's staging prefix: the run's lease.

Two runs of the same migration (same run id, so same ``runs/<run_id>/``) would read and overwrite each
other's staged chunks and both report "completed" while records are missing. So the ``migration``
orchestrator takes the lease ``runs/<run_id>/run.lease`` first and gives it back last, with a token
from ``context.new_uuid()`` (deterministic under replay: a retried or replayed activity of the same run
presents the same token and acquires again). A second run is refused at once with a permanent failure
that says who holds the lease and what to do.
"""

from __future__ import annotations

from ..errors import PermanentError
from ..staging import Staging, StagingLeaseError
from .common import run_config, staging_for

#: the leased name, relative to the run's prefix
LEASE = "run.lease"
TAKE_OVER_HINT = '--take-over (CLI) or "take_over": true (POST /api/migrations)'


def _token(payload: dict) -> str:
    token = payload.get("lease")
    if not isinstance(token, str) or not token:
        raise PermanentError("the run's lease steps need a lease token (the orchestrator's context.new_uuid())")
    return token


async def acquire_run_lease(payload: dict) -> dict:
    """Take the run's lease for ``payload["lease"]``; refused if another run holds it."""
    run = run_config(payload)
    try:
        held = staging_for(run).acquire_lease(LEASE, _token(payload), take_over=run.take_over)
    except StagingLeaseError as e:
        since = f"since {e.holder.since}, host {e.holder.host}" if e.holder else "holder unknown"
        raise PermanentError(f"run {run.run_id} is already in progress ({since}); wait for it, or if it is "
                             f"dead rerun with {TAKE_OVER_HINT}") from None
    return {"lease": LEASE, "since": held.since, "host": held.host}


async def release_run_lease(payload: dict) -> dict:
    """Give the run's lease back (a no-op if this run does not hold it: already released, or taken over)."""
    run = run_config(payload)
    return {"released": staging_for(run).release_lease(LEASE, _token(payload))}


def forget_run(st: Staging, owner: str, *, take_over: bool = False) -> None:
    """Delete everything a run staged (``--fresh``), under its lease: a run in progress is never wiped."""
    st.acquire_lease(LEASE, owner, take_over=take_over)
    try:
        for top in {name.split("/", 1)[0] + ("/" if "/" in name else "") for name in st.list("") if name != LEASE}:
            if top.endswith("/"):
                st.delete_prefix(top)
            else:
                st.delete(top)
    finally:
        st.release_lease(LEASE, owner)
