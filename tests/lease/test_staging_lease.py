"""``Staging.acquire_lease`` / ``release_lease``: one owner at a time, on a folder and on Blob Storage."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys

import pytest

from shared.staging import LocalStaging, Staging, StagingLeaseError

NAME = "run.lease"


def test_a_second_owner_is_refused_with_who_holds_it(staging: Staging) -> None:
    first = staging.acquire_lease(NAME, "owner-a")
    with pytest.raises(StagingLeaseError) as refused:
        staging.acquire_lease(NAME, "owner-b")
    assert refused.value.holder == first
    assert first.host == socket.gethostname() and first.since
    assert "since" in str(refused.value) and first.host in str(refused.value)


def test_the_same_owner_acquires_again(staging: Staging) -> None:
    first = staging.acquire_lease(NAME, "owner-a")
    assert staging.acquire_lease(NAME, "owner-a") == first  # a retried activity of the same run


def test_release_frees_it_for_the_next_owner(staging: Staging) -> None:
    staging.acquire_lease(NAME, "owner-a")
    assert staging.release_lease(NAME, "owner-b") is False  # not the holder: nothing happens
    with pytest.raises(StagingLeaseError):
        staging.acquire_lease(NAME, "owner-b")
    assert staging.release_lease(NAME, "owner-a") is True
    assert staging.release_lease(NAME, "owner-a") is False  # a retried release
    staging.acquire_lease(NAME, "owner-b")
    with pytest.raises(StagingLeaseError):
        staging.acquire_lease(NAME, "owner-a")


def test_take_over_when_told_the_holder_is_dead(staging: Staging, caplog) -> None:
    staging.acquire_lease(NAME, "owner-a")
    with caplog.at_level(logging.WARNING):
        taken = staging.acquire_lease(NAME, "owner-b", take_over=True)
    assert "taking over" in caplog.text
    assert staging.acquire_lease(NAME, "owner-b") == taken
    assert staging.release_lease(NAME, "owner-a") is False
    assert staging.release_lease(NAME, "owner-b") is True


def test_the_owner_token_is_not_written_down(staging: Staging) -> None:
    staging.acquire_lease(NAME, "secret-owner-token")
    assert "secret-owner-token" not in repr(staging.acquire_lease(NAME, "secret-owner-token"))
    if isinstance(staging, LocalStaging):
        assert "secret-owner-token" not in staging.read_bytes(NAME).decode()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_lock_of_a_dead_local_process_is_taken_over_with_a_warning(tmp_path, caplog) -> None:
    st = LocalStaging(tmp_path, prefix="runs/r1")
    st.acquire_lease(NAME, "crashed-run")
    lock = tmp_path / "runs" / "r1" / NAME
    record = json.loads(lock.read_text())
    assert set(record) == {"owner", "host", "pid", "since"}
    lock.write_text(json.dumps({**record, "pid": dead_pid()}))
    with caplog.at_level(logging.WARNING):
        mine = st.acquire_lease(NAME, "next-run")
    assert "taking over" in caplog.text and str(record["since"]) in caplog.text
    assert json.loads(lock.read_text())["owner"] == mine.owner


def test_a_lock_of_a_live_process_or_another_host_is_kept(tmp_path) -> None:
    st = LocalStaging(tmp_path, prefix="runs/r1")
    st.acquire_lease(NAME, "other-run")
    lock = tmp_path / "runs" / "r1" / NAME
    record = json.loads(lock.read_text())
    for held_by in ({"pid": 1}, {"pid": dead_pid(), "host": "another-machine"}):
        lock.write_text(json.dumps({**record, **held_by}))
        with pytest.raises(StagingLeaseError):
            st.acquire_lease(NAME, "next-run")


def test_the_lock_is_atomic_between_processes(tmp_path) -> None:
    """Eight live processes race for one lock: exactly one wins (each stays alive until all have tried, so
    no lock is left by a dead process)."""
    script = ("import sys; from shared.staging import LocalStaging, StagingLeaseError\n"
              "st = LocalStaging(sys.argv[1], prefix='runs/r1')\n"
              "try:\n    st.acquire_lease('run.lease', sys.argv[2]); print('won', flush=True)\n"
              "except StagingLeaseError:\n    print('lost', flush=True)\n"
              "sys.stdin.read()\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), f"owner-{i}"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for i in range(8)]
    outcomes = sorted(p.stdout.readline().strip() for p in procs)
    for p in procs:
        p.communicate("")
    assert outcomes == ["lost"] * 7 + ["won"]
