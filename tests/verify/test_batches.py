"""Verification reads rows back in In(...) queries of at most 200 keys, each URL within Dataverse's 32 KB."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import quote

from shared.dataverse.keys import encode_key
from shared.dataverse.loader import TableRef
from shared.objects import catalogue
from shared.steps.verify import IN_KEYS, URL_LIMIT, _Tally, _Verifier

API = "https://contoso.crm.dynamics.com/api/data/v9.2/"
REF = TableRef("account", "accounts", "wtc_sourceid")


class Reader:
    """A client that answers every key it is asked for, and remembers the URLs it was sent."""

    def __init__(self):
        self.settings = SimpleNamespace(api_base=API)
        self.urls: list[str] = []
        self.cache: dict = {}

    async def get_all(self, entity_set: str, select, filter: str):
        # the client's own query string: spaces as %20, OData punctuation kept
        self.urls.append(f"{API}{entity_set}?$select={quote(','.join(select), safe=chr(39) + '(),:@$*/')}"
                         f"&$filter={quote(filter, safe=chr(39) + '(),:@$*/')}")
        for value in filter.split("PropertyValues=[", 1)[1][:-2].split("','"):
            yield {"wtc_sourceid": value.strip("'"), "accountid": "00000000-0000-0000-0000-000000000001"}


async def read(keys: list[str], select: list[str]) -> tuple[Reader, list[dict]]:
    dv = Reader()
    verifier = _Verifier(dv, catalogue("worketc-csv")["company"], {}, {}, _Tally("company"))
    return dv, [r async for r in verifier._query(REF, REF.key_column, [encode_key(k) for k in keys], select)]


async def test_short_keys_go_two_hundred_to_a_query():
    dv, found = await read([f"{i}" for i in range(1, 1001)], ["accountid", "wtc_sourceid", "name"])
    assert len(found) == 1000
    assert len(dv.urls) == 1000 // IN_KEYS


async def test_long_keys_that_escape_still_keep_every_url_within_the_limit():
    keys = [f"{i:04d}/" + "ü&% 東京" * 60 for i in range(400)]  # every character but the digits escapes
    select = [f"wtc_column{i}" for i in range(300)]
    dv, found = await read(keys, select)
    assert sorted(r["wtc_sourceid"] for r in found) == sorted(encode_key(k) for k in keys)
    assert len(dv.urls) > 400 // IN_KEYS and max(map(len, dv.urls)) <= URL_LIMIT
