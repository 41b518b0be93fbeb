"""In(...) on an alternate key is answered from the key's index: same answers as a scan."""

from __future__ import annotations

import httpx

from emulators.dataverse.core import create_core_app

BASE = "http://dv.test/api/data/v9.2/"


async def test_in_on_an_alternate_key_matches_exactly_what_a_scan_would():
    app = create_core_app(key_activation_delay=0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        r = await c.post("EntityDefinitions(LogicalName='account')/Attributes", json={
            "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "SchemaName": "wtc_sourceid",
            "MaxLength": 100, "DisplayName": {"LocalizedLabels": [{"Label": "s", "LanguageCode": 1033}]}})
        assert r.status_code == 204, r.text
        r = await c.post("EntityDefinitions(LogicalName='account')/Keys", json={
            "SchemaName": "wtc_sourceid_key", "KeyAttributes": ["wtc_sourceid"],
            "DisplayName": {"LocalizedLabels": [{"Label": "k", "LanguageCode": 1033}]}})
        assert r.status_code == 204, r.text
        for i, key in enumerate(["a", "O'Brien", "c", "D"]):
            r = await c.post("accounts", json={"name": f"n{i}", "wtc_sourceid": key})
            assert r.status_code == 204, r.text

        async def keys(flt: str) -> set[str]:
            r = await c.get("accounts", params={"$select": "wtc_sourceid", "$filter": flt})
            assert r.status_code == 200, r.text
            return {v["wtc_sourceid"] for v in r.json()["value"]}

        in_ = "Microsoft.Dynamics.CRM.In(PropertyName='wtc_sourceid',PropertyValues=['a','O''Brien','d','zz'])"
        assert await keys(in_) == {"a", "O'Brien", "D"}  # key matching ignores case, as Dataverse does
        assert await keys(in_ + " and name ne 'n0'") == {"O'Brien", "D"}
        assert await keys(in_ + " or name eq 'n2'") == {"a", "O'Brien", "D", "c"}
        none = "Microsoft.Dynamics.CRM.In(PropertyName='wtc_sourceid',PropertyValues=['zz'])"
        assert await keys(none) == set()
