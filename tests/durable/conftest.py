"""Fake steps for the real migration orchestrators: each object has a number of records, staged in
chunks; the steps only count, so a test can drive ``orchestrators.migration`` through the Durable
driver in milliseconds and check what the orchestrators asked for."""

from __future__ import annotations

from collections import Counter

from cli.durable import DurableDriver, FakeClock
from orchestrators.migration import ORCHESTRATORS, PIPELINE_ACTIVITY
from shared import objects

RUN = {"run_id": "r1", "source": "worketc-csv", "input": "/x", "target": "https://org.crm.dynamics.com",
       "staging": "/tmp/s", "auto_approve": True, "owners": "use-default", "approval_hours": 168}


class FakeMigration:
    """The steps of a run over ``records`` (object -> record count), ``chunk_size`` records a chunk."""

    def __init__(self, records: dict[str, int], chunk_size: int = 2):
        self.records = records
        self.chunk_size = chunk_size
        self.calls: Counter[str] = Counter()
        self.steps = {name: self._step(name, fn) for name, fn in {
            "discover": self.discover, "prepare_object": self.nothing, "extract_object": self.extract,
            "transform_chunk": self.transform, "load_chunk": self.load, "transfer_documents": self.load,
            **{activity: self.nothing for activity in PIPELINE_ACTIVITY.values()},
            "reconcile_object": self.reconcile, "final_report": self.final_report,
            "acquire_run_lease": self.nothing, "release_run_lease": self.nothing,
            "propose_map": self.propose, "approve_map": self.approve, "owner_gate": self.owner_gate, "spot_check": self.nothing, "verify_object": self.nothing}.items()}

    def _step(self, name, fn):
        async def step(payload):
            self.calls[name] += 1
            return await fn(payload)
        return step

    async def discover(self, payload):
        specs = objects.catalogue(payload["run"]["source"])
        return {"objects": list(self.records), "waves": objects.waves(specs, list(self.records))}

    async def nothing(self, payload):
        return {}

    async def propose(self, payload):
        return {"hash": "sha256:proposed", "map": "report/mapping.yaml"}

    async def approve(self, payload):
        ok = payload["hash"] == "sha256:proposed"
        return {"approved": ok, "hash": payload["hash"]} if ok else {"approved": False, "reason": "another hash"}

    async def owner_gate(self, payload):
        return {"unmatched": 0, "matched": 1}

    async def extract(self, payload):
        n = self.records[payload["object"]]
        sizes = [min(self.chunk_size, n - i) for i in range(0, n, self.chunk_size)]
        return {"chunks": [{"name": f"objects/{payload['object']}/extract/part-{i:05d}.jsonl.gz", "records": s}
                           for i, s in enumerate(sizes)], "staged": n, "source": n, "rejected": 0}

    async def transform(self, payload):
        chunk = payload["chunk"]
        return {"chunk": {**chunk, "name": chunk["name"].replace("/extract/", "/transform/")},
                "rows": chunk["records"], "rejected": 0}

    async def load(self, payload):
        return {"created": payload["chunk"]["records"], "updated": 0, "rejected": 0}

    async def reconcile(self, payload):
        n = self.records[payload["object"]]
        return {"object": payload["object"], "source": n, "loaded": n, "rejected": 0, "balanced": True}

    async def final_report(self, payload):
        return {"status": "completed", "report": "report/report.json",
                "totals": {"source": sum(self.records[o] for o in payload["objects"])}}


def driver(steps, *, orchestrators=None, **options) -> DurableDriver:
    options.setdefault("clock", FakeClock())
    return DurableDriver(orchestrators or ORCHESTRATORS, steps, **options)


def shape(history: list[dict]) -> list[tuple]:
    """What a history says, whatever the order and batching of completions: the numbered tasks in
    order, and how many of each kind of event there are (episode markers aside)."""
    scheduled = [(e["EventType"], e["EventId"], e.get("Name"), e.get("Input"), e.get("InstanceId"))
                 for e in history if e["EventType"] in (4, 7, 10)]
    kinds = sorted(Counter((e["EventType"], e.get("Name")) for e in history
                           if e["EventType"] not in (12, 13)).items())
    return [*scheduled, *kinds]


__all__ = ["RUN", "FakeMigration", "driver", "shape"]
