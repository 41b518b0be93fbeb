"""Drive the orchestrators as the Durable Functions docs show: unwrap the registered user function
and step it with the SDK's orchestrator_generator_wrapper, answering each task with a mock."""

from __future__ import annotations

from unittest.mock import Mock

import azure.durable_functions as df
import pytest
from azure.durable_functions.testing import orchestrator_generator_wrapper

from orchestrators import migration as orch

RUN = {"run_id": "r1", "source": "worketc-csv", "input": "/x", "target": "https://org.crm.dynamics.com",
       "staging": "/tmp/s", "auto_approve": True, "owners": "use-default", "approval_hours": 168}
#: the gates' activities, answered as a run that goes straight through them (tests/gates drives the gates)
GATES = {"propose_map": {"hash": "sha256:h", "map": "report/mapping.yaml"}, "approve_map": {"approved": True},
         "owner_gate": {"unmatched": 0, "matched": 1}, "spot_check": {"records": 0}}


def registered(name: str):
    """The user function behind the blueprint registration, unwrapped as the docs show."""
    for fb in orch.bp._function_builders:
        fn = fb.build()
        if fn.get_function_name() == name:
            return fn.get_user_function().orchestrator_function
    raise LookupError(name)


def task(result, activity=None):
    t = Mock()
    t.result = result
    t.activity = activity
    return t


class FakeContext:
    """Answers activities from a table and records what the orchestrator asked for."""

    def __init__(self, input_, answers):
        self.input = input_
        self.answers = answers
        self.calls: list[tuple[str, dict]] = []
        self.statuses: list[dict] = []
        self.leases: list[tuple[str, dict]] = []  # the run lease's acquire/release, kept apart from the work
        self.gates: list[tuple[str, dict]] = []  # the map and owner gates' activities, likewise
        self.instance_id = "inst-1"
        self.fan_outs: list[list[str]] = []  # each task_all's activity names: what ran side by side

    def build(self):
        ctx = Mock(spec=df.DurableOrchestrationContext)
        ctx.instance_id = self.instance_id
        ctx.get_input.return_value = self.input
        ctx.new_uuid.return_value = "lease-token-1"
        ctx.call_activity_with_retry.side_effect = self._activity
        ctx.call_sub_orchestrator_with_retry.side_effect = self._sub
        ctx.task_all.side_effect = self._all
        ctx.set_custom_status.side_effect = self.statuses.append
        return ctx

    def _activity(self, name, retry, payload):
        assert isinstance(retry, df.RetryOptions)
        if name.endswith("_run_lease"):
            self.leases.append((name, payload))
            return task({"lease": payload["lease"]})
        if name in GATES and name not in self.answers:
            self.gates.append((name, payload))
            return task(GATES[name])
        self.calls.append((name, payload))
        answer = self.answers.get(name, {"status": "failed"} if name == "final_report" else None)
        if answer is None:
            raise KeyError(name)
        return task(answer(payload) if callable(answer) else answer, name)

    def _sub(self, name, retry, payload, instance_id=None):
        assert isinstance(retry, df.RetryOptions)
        self.calls.append((f"sub:{name}", payload))
        answer = self.answers.get(f"sub:{name}", {"balanced": True})
        return task({"object": payload["object"], **(answer(payload) if callable(answer) else answer)})

    def _all(self, tasks):
        assert tasks, "task_all([]) yields None in Azure, not []"
        self.fan_outs.append([t.activity for t in tasks])
        return task([t.result for t in tasks])


def drive(fn, ctx):
    results = list(orchestrator_generator_wrapper(fn(ctx)))
    return results[-1]


def test_migration_runs_waves_in_dependency_order_and_reports():
    waves = [["custom_field", "user"], ["company"], ["contact"]]
    fake = FakeContext(RUN, {
        "discover": {"objects": ["user", "custom_field", "company", "contact"], "waves": waves},
        "final_report": {"status": "completed", "report": "report/report.json", "totals": {"source": 10}},
    })
    result = drive(registered("migration"), fake.build())

    subs = [p["object"] for n, p in fake.calls if n == "sub:migrate_object"]
    assert subs == ["user", "custom_field", "company", "contact"]  # owners first: the owner gate
    assert fake.calls[0][0] == "discover" and fake.calls[-1][0] == "final_report"
    assert fake.calls[-1][1]["objects"] == ["user", "custom_field", "company", "contact"]
    assert result["status"] == "completed"
    assert [o["object"] for o in result["objects"]] == subs
    # progress is visible per wave
    assert [s["wave"] for s in fake.statuses if s.get("phase") == "loading"] == [1, 2, 3]


def test_migration_passes_only_references_never_records():
    fake = FakeContext(RUN, {
        "discover": {"objects": ["company"], "waves": [["company"]]},
        "final_report": {"status": "completed", "report": "r", "totals": {}},
    })
    drive(registered("migration"), fake.build())
    for _, payload in fake.calls:
        assert set(payload) <= {"run", "object", "objects"}


def test_migrate_object_fans_out_transform_and_load_per_chunk():
    chunks = [{"name": f"objects/company/extract/part-{i:05d}.jsonl.gz", "records": 5, "sha256": "x"}
              for i in range(3)]
    fake = FakeContext({"run": RUN, "object": "company"}, {
        "prepare_object": {"prepared": True},
        "extract_object": {"chunks": chunks, "staged": 15, "source": 16, "rejected": 1},
        "transform_chunk": lambda p: {"chunk": {"name": p["chunk"]["name"].replace("extract", "transform")},
                                      "rows": 5, "rejected": 0},
        "load_chunk": {"created": 5, "updated": 0, "rejected": 0}, "verify_object": {"verified": 15},
        "reconcile_object": {"object": "company", "source": 16, "loaded": 15, "rejected": 1, "balanced": True},
    })
    report = drive(registered("migrate_object"), fake.build())
    names = [n for n, _ in fake.calls]
    assert names == ["prepare_object", "extract_object", *["transform_chunk"] * 3, *["load_chunk"] * 3,
                     "verify_object", "reconcile_object"]
    loads = [p["chunk"]["name"] for n, p in fake.calls if n == "load_chunk"]
    assert all("/transform/" in n for n in loads)
    assert report["balanced"] is True


def test_lines_inside_closed_records_load_one_chunk_at_a_time():
    """Lines of a paid invoice reopen it, are written and close it again: two chunks doing that to one invoice
    at once race (seen as a line refused now and then), so such an object's chunks never load side by side;
    their transforms still do."""
    chunks = [{"name": f"objects/invoice_line/extract/part-{i:05d}.jsonl.gz", "records": 5, "sha256": "x"}
              for i in range(3)]
    answers = {
        "prepare_object": {}, "extract_object": {"chunks": chunks, "staged": 15},
        "transform_chunk": lambda p: {"chunk": {"name": p["chunk"]["name"].replace("extract", "transform")},
                                      "rows": 5, "rejected": 0},
        "load_chunk": {"created": 5}, "verify_object": {}, "reconcile_object": {"balanced": True}}
    fake = FakeContext({"run": RUN, "object": "invoice_line"}, answers)
    drive(registered("migrate_object"), fake.build())
    assert [n for n, _ in fake.calls].count("load_chunk") == 3
    assert ["transform_chunk"] * 3 in fake.fan_outs
    assert [f for f in fake.fan_outs if "load_chunk" in f] == [["load_chunk"]] * 3

    fake = FakeContext({"run": RUN, "object": "invoice"}, {**answers, "extract_object": {
        "chunks": [{**c, "name": c["name"].replace("invoice_line", "invoice")} for c in chunks], "staged": 15}})
    drive(registered("migrate_object"), fake.build())
    assert [f for f in fake.fan_outs if "load_chunk" in f] == [["load_chunk"] * 3]  # other objects: side by side


def test_migrate_object_skips_load_of_a_chunk_that_transformed_to_nothing():
    chunks = [{"name": "objects/company/extract/part-00000.jsonl.gz", "records": 1, "sha256": "x"}]
    fake = FakeContext({"run": RUN, "object": "company"}, {
        "prepare_object": {}, "extract_object": {"chunks": chunks, "staged": 1},
        "transform_chunk": {"chunk": None, "rows": 0, "rejected": 1},
        "load_chunk": {}, "verify_object": {}, "reconcile_object": {"balanced": True},
    })
    drive(registered("migrate_object"), fake.build())
    assert "load_chunk" not in [n for n, _ in fake.calls]


@pytest.mark.parametrize("obj,activity", [("user", "resolve_owners"), ("custom_field", "deploy_custom_fields")])
def test_non_record_objects_run_their_pipeline_activity(obj, activity):
    fake = FakeContext({"run": RUN, "object": obj}, {
        "prepare_object": {}, "extract_object": {"chunks": [], "staged": 0},
        activity: {}, "reconcile_object": {"balanced": True},
    })
    drive(registered("migrate_object"), fake.build())
    assert [n for n, _ in fake.calls] == ["prepare_object", "extract_object", activity, "reconcile_object"]


def test_activity_failure_is_thrown_into_the_orchestrator():
    fake = FakeContext(RUN, {"discover": None})
    ctx = fake.build()
    failing = Mock()
    type(failing).result = property(lambda self: (_ for _ in ()).throw(RuntimeError("boom")))
    ctx.call_activity_with_retry.side_effect = lambda *a: failing
    with pytest.raises(RuntimeError, match="boom"):
        drive(registered("migration"), ctx)


def test_every_step_is_registered_as_an_activity_and_every_activity_is_a_step():
    from activities.migration import bp as activities_bp
    from shared.steps import STEPS

    registered = {fb.build().get_function_name() for fb in activities_bp._function_builders}
    assert registered == set(STEPS)


def test_every_activity_an_object_names_exists():
    from shared.objects import SOURCES
    from shared.steps import STEPS

    for specs in SOURCES.values():
        for spec in specs.values():
            assert spec.load_activity in STEPS, spec.name
            if spec.pipeline != "records":
                assert orch.PIPELINE_ACTIVITY[spec.pipeline] in STEPS, spec.name


def test_migrate_object_with_zero_records_fans_out_over_nothing():
    fake = FakeContext({"run": RUN, "object": "company"}, {
        "prepare_object": {}, "extract_object": {"chunks": [], "staged": 0},
        "load_chunk": {}, "verify_object": {"verified": 0},
        "reconcile_object": {"object": "company", "source": 0, "balanced": True},
    })
    report = drive(registered("migrate_object"), fake.build())
    assert [n for n, _ in fake.calls] == ["prepare_object", "extract_object", "verify_object", "reconcile_object"]
    assert report["balanced"] is True
    assert {"object": "company", "phase": "loading", "chunks": 0} in fake.statuses


def test_a_permanent_failure_fails_the_run_at_once_with_its_message():
    fake = FakeContext(RUN, {"discover": {"failure": {"kind": "input", "message": "no companies.csv in /x"}}})
    with pytest.raises(orch.PermanentFailure, match="^no companies.csv in /x$"):
        drive(registered("migration"), fake.build())
    assert [n for n, _ in fake.calls] == ["discover", "final_report"]
    # the failed run still writes its report, then gives the run's lease back
    assert fake.calls[-1][1] == {"run": RUN, "objects": [], "failure": fake.answers["discover"]["failure"]}
    assert [n for n, _ in fake.leases] == ["acquire_run_lease", "release_run_lease"]


def test_an_object_with_a_permanent_failure_returns_it_and_the_run_fails_without_retrying_it():
    failure = {"kind": "access", "message": "Dataverse refused the credential (401)"}
    fake = FakeContext({"run": RUN, "object": "company"}, {
        "prepare_object": {"failure": failure}, "reconcile_object": {"balanced": True}})
    assert drive(registered("migrate_object"), fake.build()) == {"object": "company", "failure": failure}
    assert [n for n, _ in fake.calls] == ["prepare_object"]
    assert fake.statuses[-1] == {"object": "company", "phase": "failed", "failure": failure}

    run = FakeContext(RUN, {
        "discover": {"objects": ["user", "company"], "waves": [["user"], ["company"]]},
        "sub:migrate_object": lambda p: {"failure": failure} if p["object"] == "user" else {"balanced": True},
        "final_report": {"status": "completed", "report": "r", "totals": {}},
    })
    with pytest.raises(orch.PermanentFailure, match="refused the credential"):
        drive(registered("migration"), run.build())
    assert [n for n, _ in run.calls] == ["discover", "sub:migrate_object", "final_report"]
    assert run.calls[-1][1]["failure"] == failure and run.calls[-1][1]["objects"] == ["user", "company"]


def test_a_wave_with_a_failed_object_fails_the_run_once_the_wave_is_done():
    failure = {"kind": "input", "message": "contacts.csv: wrong separator"}
    fake = FakeContext(RUN, {
        "discover": {"objects": ["company", "lead", "kb_article", "contact"],
                     "waves": [["company", "lead", "kb_article"], ["contact"]]},
        "sub:migrate_object": lambda p: {"failure": failure} if p["object"] == "lead" else {"balanced": True},
        "final_report": {"status": "completed", "report": "r", "totals": {}},
    })
    with pytest.raises(orch.PermanentFailure, match="wrong separator"):
        drive(registered("migration"), fake.build())
    assert [p["object"] for n, p in fake.calls if n == "sub:migrate_object"] == ["company", "lead", "kb_article"]
    assert fake.calls[-1][0] == "final_report" and fake.calls[-1][1]["failure"] == failure


def test_the_run_holds_its_lease_from_before_discovery_to_after_the_report():
    fake = FakeContext(RUN, {
        "discover": {"objects": ["company"], "waves": [["company"]]},
        "final_report": {"status": "completed", "report": "r", "totals": {}},
    })
    drive(registered("migration"), fake.build())
    assert fake.leases == [("acquire_run_lease", {"run": RUN, "lease": "lease-token-1"}),
                           ("release_run_lease", {"run": RUN, "lease": "lease-token-1"})]


def test_a_second_run_refused_its_lease_moves_nothing():
    fake = FakeContext(RUN, {})
    ctx = fake.build()
    refusal = {"kind": "permanent", "message": "run r1 is already in progress"}
    ctx.call_activity_with_retry.side_effect = lambda name, retry, payload: task({"failure": refusal})
    with pytest.raises(orch.PermanentFailure, match="already in progress"):
        drive(registered("migration"), ctx)
    assert ctx.call_activity_with_retry.call_count == 1  # no discovery, no report over the other run's files
