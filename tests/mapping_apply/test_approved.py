"""approved_spec: the steps read the approved map from staging, once per hash, and refuse a map that
changed after its approval; without an approval the catalogue's declaration applies. The transform step
refuses rows with a column the approved map does not list. Sample runs find each row's parents."""

from __future__ import annotations

import pytest

from shared.errors import InputError, PermanentError
from shared.mapping import MappingFile, dump
from shared.objects import catalogue
from shared.objects.worketc import COMPANY, CONTACT, DOCUMENT, USER
from shared.sources.worketc.csv_export import REFERENCE_COLUMNS
from shared.staging import open_staging
from shared.steps import common
from shared.steps.extract import _references
from shared.steps.transform import _check_listed

from .test_apply import entry, proposal


@pytest.fixture
def st(tmp_path):
    return open_staging(str(tmp_path))


def approve(st, mapping: MappingFile, text: str | None = None) -> None:
    st.write_bytes(common.APPROVED_MAP, (text or dump(mapping)).encode("utf-8"))
    st.write_json(common.APPROVAL, {"hash": mapping.content_hash(), "approved_by": "test"})


def company_map() -> MappingFile:
    om = proposal(COMPANY)
    entry(om, "Phone").target = "telephone2"
    return MappingFile("worketc", [om])


def test_without_an_approved_map_the_catalogue_applies(st):
    assert common.approved_spec(st, COMPANY) is COMPANY


def test_the_approved_map_shapes_the_objects_it_lists(st):
    approve(st, company_map())
    assert ("Phone", "telephone2", "phone") in {(f.source, f.target, f.kind) for f in
                                                common.approved_spec(st, COMPANY).fields}
    assert common.approved_spec(st, CONTACT) is CONTACT  # not in the map
    assert common.approved_spec(st, USER) is USER  # not a records object
    assert common.approved_spec(st, DOCUMENT) is DOCUMENT  # binaries go to SharePoint: not mapped


def test_the_map_is_read_once_per_hash(st, monkeypatch):
    mapping = company_map()
    approve(st, mapping)
    common._APPROVED.pop(mapping.content_hash(), None)
    reads = []
    real = type(st).read_bytes
    monkeypatch.setattr(type(st), "read_bytes", lambda self, name: reads.append(name) or real(self, name))
    for _ in range(3):
        common.approved_spec(st, COMPANY)
    assert reads.count(common.APPROVED_MAP) == 1  # the small approval.json is read each time


def test_a_map_changed_after_its_approval_is_refused(st):
    mapping = company_map()
    text = dump(mapping).replace("target: telephone2", "target: telephone3")
    approve(st, mapping, text)
    common._APPROVED.clear()
    with pytest.raises(PermanentError, match="changed since it was approved.*approve it again"):
        common.approved_spec(st, COMPANY)


def test_an_approval_without_its_map_is_refused(st):
    st.write_json(common.APPROVAL, {"hash": "sha256:" + "0" * 64})
    with pytest.raises(PermanentError, match="approved.yaml is missing"):
        common.approved_spec(st, COMPANY)


def test_staged_picklist_values_reach_the_transform(st):
    from shared.mapping import CustomColumn, Entry, ValueMapping
    mapping = company_map()
    mapping.objects[0].entries.append(Entry("Region", "wtc_region", "option",
                                            custom=CustomColumn("Picklist", options=("North",)),
                                            values=[ValueMapping("N", "North")]))
    approve(st, mapping)
    st.write_json(common.obj_path(COMPANY, "picklists.json"), {"wtc_region": {"North": 100000042}})
    field = next(f for f in common.approved_spec(st, COMPANY).fields if f.target == "wtc_region")
    assert field.options == {"N": 100000042}


def test_a_column_the_map_does_not_list_stops_the_transform():
    om = proposal(COMPANY)
    _check_listed(COMPANY, om, [{"_file": "companies.csv", "EntityID": "1", "Region": ""}])  # empty: nothing lost
    with pytest.raises(InputError, match=r"companies.csv: the column\(s\) 'Region' hold values.*propose the map again"):
        _check_listed(COMPANY, om, [{"_file": "companies.csv", "EntityID": "1", "Region": "North"}])


def test_a_sample_follows_the_references_hooks_read_too():
    specs = catalogue("worketc-csv")
    refs = {lk.source: lk.targets for lk in _references(specs["ticket"], specs, REFERENCE_COLUMNS)}
    assert refs == {"CompanyID": ("company",), "ContactID": ("contact",)}
    refs = {lk.source: lk.targets for lk in _references(specs["invoice"], specs, REFERENCE_COLUMNS)}
    assert refs == {"DealID": ("deal",), "CompanyID": ("company",), "ContactID": ("contact",)}
    refs = {lk.source: set(lk.targets) for lk in _references(specs["document"], specs, REFERENCE_COLUMNS)}
    assert refs["RegardingID"] == {"company", "contact", "lead", "deal", "project", "ticket"}
    assert _references(specs["lead"], specs, REFERENCE_COLUMNS) == []
