"""Fixtures of the report page tests: a run's staging written by hand (tests/failures/staged.py) holding
everything the page shows, hostile and personal values planted where a page must not carry them."""

from __future__ import annotations

from pathlib import Path

from shared.mapping.mapfile import dump
from shared.mapping.model import Entry, MappingFile, ObjectMapping, ValueMapping
from shared.problems import Problem
from shared.staging import Staging
from shared.steps.reconcile import reconcile_object
from shared.steps.report import final_report
from tests.failures.staged import TOO_LONG, new_run, stage_companies, stage_discovery

ROOT = Path(__file__).resolve().parents[2]
OWNER = "pat.owner@customer.example"
#: a value a record held: in rejects.csv / warnings.csv for the person fixing the source, never on the page
PERSONAL = "jane.roe@private.example"
#: a source column name is the customer's text too: it is shown, as text
HOSTILE_FIELD = "<script>window.pwned=1</script>"
WORKFLOWS = ("Name,Trigger,Conditions,Actions,Active,Power Automate trigger,Power Automate actions\r\n"
             "Overdue invoice reminder,Daily 9:00 AM,Status = Overdue,Email contact,Yes,"
             "Schedule: Recurrence (scheduled cloud flow),Office 365 Outlook: Send an email (V2)\r\n")


def approved_map() -> MappingFile:
    return MappingFile(source="worketc", objects=[ObjectMapping(
        name="company", file="companies.csv", table="account", entries=[
            Entry(source="EntityID", target="wtc_sourceid", kind="key", read_only=True),
            Entry(source="Name", target="name", kind="string"),
            Entry(source="Priority", target="prioritycode", kind="option", values=[
                ValueMapping("Urgent", 1, "High", lossy=True, count=7), ValueMapping("High", 1, "High", count=3),
                ValueMapping("Low", 2, "Low", count=1)]),
            Entry(source="Industry", target=None, kind="engine", read_only=True),
            Entry(source="DateModified", target=None, kind="skip")])])


async def staged_run(tmp_path: Path, *, failure: dict | None = None) -> tuple[Staging, dict]:
    """A company object reconciled (2 loaded, 1 refused by Dataverse, 1 duplicate at extraction, a warning
    quoting a personal value, an owner without a user), its load timed with 429s, then the final report;
    the approved map and the workflow inventory staged beside it."""
    run, st = new_run(tmp_path, auto_approve=True, owners="use-default")
    stage_discovery(st)
    stage_companies(st, [{"key": "1", "status": "created"}, {"key": "2", "status": "updated"},
                         {"key": "3", "status": "rejected", "code": "0x80044331", "message": TOO_LONG}],
                    owners={OWNER: 2})
    extract = st.read_json("objects/company/extract.json")
    duplicate = Problem("company", "4", "extract", "duplicate_key", f"EntityID '4' appears again ({PERSONAL})",
                        file="companies.csv", line=5, field="EntityID", value=PERSONAL).to_dict()
    st.write_json("objects/company/extract.json", {**extract, "source": 4, "rejected": 1, "rejects": [duplicate]})
    t = st.read_json("objects/company/transform/part-00000.json")
    bad_email = Problem("company", "2", "transform", "invalid_value", f"'{PERSONAL}x' is not a valid e-mail",
                        file="companies.csv", line=3, field=HOSTILE_FIELD, value=f"{PERSONAL}x").to_dict()
    st.write_json("objects/company/transform/part-00000.json", {**t, "warnings": 1, "warning_rows": [bad_email]})
    load = st.read_json("objects/company/load/part-00000.json")
    st.write_json("objects/company/load/part-00000.json", {**load, "timing": {
        "started": "2025-03-01T09:00:10.000+00:00", "ended": "2025-03-01T09:00:14.000+00:00", "rows": 3,
        "client": "7:a", "throttled": [2, 5]}})
    await reconcile_object({"run": run.model_dump(), "object": "company"})
    st.write_bytes("mapping/approved.yaml", dump(approved_map()).encode("utf-8"))
    st.write_json("mapping/approval.json", {"hash": approved_map().content_hash(), "by": "pat", "edited": False,
                                            "at": "2025-03-01T08:59:00+00:00"})
    st.write_bytes("report/workflows.csv", WORKFLOWS.encode("utf-8"))
    payload = {"run": run.model_dump(), "objects": ["company", "contact"]}
    await final_report({**payload, **({"failure": failure} if failure else {})})
    return st, st.read_json("report/report.json")


def page(st: Staging) -> str:
    return st.read_bytes("report/report.html").decode("utf-8")

