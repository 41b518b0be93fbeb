"""Before-images: what is kept of a row, and the PATCH that puts it back (shared/rollback.py)."""

from __future__ import annotations

from shared.rollback import _written, differences, image, restore_body

LOGICAL = "@Microsoft.Dynamics.CRM.lookuplogicalname"
NAV = "@Microsoft.Dynamics.CRM.associatednavigationproperty"

RECORD = {"contactid": "c1", "lastname": "Before", "jobtitle": None, "wtc_sourceid": "200001",
          "_parentcustomerid_value": "a1", f"_parentcustomerid_value{LOGICAL}": "contact",
          f"_parentcustomerid_value{NAV}": "parentcustomerid_contact",
          "_ownerid_value": "u1", f"_ownerid_value{LOGICAL}": "systemuser", f"_ownerid_value{NAV}": "ownerid",
          "_regardingobjectid_value": None, "statecode": 0, "statuscode": 1}


def test_the_columns_and_lookups_a_chunk_writes():
    rows = [{"key": "1", "body": {"lastname": "X", "wtc_sourceid": "1", "parentcustomerid_account@odata.bind": "/a",
                                  "email_activity_parties": [{}], "@odata.type": "x"}}]
    assert _written(rows, "wtc_sourceid") == (["lastname"], ["parentcustomerid_account"])


def test_a_before_image_restores_columns_lookups_and_owner():
    before = image(RECORD, "contactid", ["lastname", "jobtitle"], ["parentcustomerid_account"])
    assert before["values"] == {"lastname": "Before", "jobtitle": None}
    assert before["state"] == [0, 1]
    body = restore_body(before)
    # the run bound parentcustomerid_account; before, the lookup pointed at a contact: re-bound through its own nav
    assert body == {"lastname": "Before", "jobtitle": None, "parentcustomerid_contact@odata.bind": "/contacts(a1)",
                    "ownerid@odata.bind": "/systemusers(u1)"}


def test_an_empty_lookup_is_cleared_and_differences_name_what_moved():
    empty = {**RECORD, "_parentcustomerid_value": None}
    before = image(empty, "contactid", ["lastname"], ["parentcustomerid_account"])
    assert restore_body(before)["parentcustomerid_account@odata.bind"] is None
    assert differences(before, empty) == []
    moved = {**empty, "lastname": "After", "_parentcustomerid_value": "new", "statecode": 1}
    assert differences(before, moved) == ["lastname", "parentcustomerid_account", "statecode"]
