"""Closing actions alone: how many WinOpportunity requests per second one chunk's closes reach.

    python -m bench.closes [--records 400] [--users 1] [--time-scale 0.25] [--with-upserts N]

The Dataverse emulator (``--profile realistic``, time-scaled) in its own process over TLS; ``--records``
open opportunities are created (not measured), then closed through ``shared.steps.load._close`` exactly as
the load step closes one chunk's rows (all gathered at once; the client's lanes bound how many are in
flight). Printed: closes per second, the most requests in flight, each lane's window, 429s, and what the
request limit allows (``LIMITS.requests / LIMITS.window_s / time scale`` per user). ``--with-upserts N``
keeps N long CreateMultiple requests (500 accounts, about 1 s each at time scale 0.25, as an
UpsertMultiple of 500) going on the same client meanwhile, as the other chunks of a wave do.

What it showed (2 cores, time scale 0.25): an earlier client counted a 1-second UpsertMultiple and a 40 ms
close alike in its per-user window (at most twice the hint: 8), and announced every freed slot to every
waiting request. The window now bounds execution time in flight (a close takes its measured share of a
slot) and hands each freed slot to one waiter (``shared/dataverse/client.py``). Figures: README,
"A whole migration".
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import ADMIN, Emulator  # noqa: E402
from emulators.dataverse.protection import LIMITS  # noqa: E402
from shared import objects as catalogue_mod  # noqa: E402
from shared.dataverse import loader  # noqa: E402
from shared.dataverse.client import DataverseClient  # noqa: E402
from shared.dataverse.settings import DataverseSettings, IdentitySettings  # noqa: E402
from shared.steps import load as load_step  # noqa: E402


async def run(records: int, n_users: int, time_scale: float, upserts: int) -> dict:
    creds = [(f"bench-close-{i}", f"bench-close-{i}-secret") for i in range(1, n_users + 1)]
    with Emulator(profile="realistic", time_scale=time_scale, clients=[ADMIN, *creds], tls=True) as em:
        admin = DataverseSettings(url=em.base_url, ca_bundle=em.ca_file,
                                  identities=[IdentitySettings(name="admin", static_token=em.token(*ADMIN))])
        async with DataverseClient(admin) as dv:  # setup, not measured
            ids = await asyncio.gather(*(dv.create("opportunities", {"name": f"Deal {i}", "estimatedvalue": 1000 + i})
                                         for i in range(records)))
        identities = [IdentitySettings(name=c[0], static_token=em.token(*c)) for c in creds]
        spec = catalogue_mod.catalogue("worketc-csv")["deal"]
        ref = loader.TableRef("opportunity", "opportunities", catalogue_mod.key_column(spec, "opportunity"))
        rows = [{"key": f"D{i}", "close": {"action": "WinOpportunity", "params": {
            "Status": 3, "OpportunityClose": {"subject": f"Won D{i}", "actualrevenue": 1000 + i}}}}
            for i in range(records)]
        async with DataverseClient(DataverseSettings(url=em.base_url, ca_bundle=em.ca_file,
                                                     identities=identities)) as dv:
            in_flight = peak = 0
            real = dv.request

            async def counted(method, path, **kw):
                nonlocal in_flight, peak
                in_flight += 1
                peak = max(peak, in_flight)
                try:
                    return await real(method, path, **kw)
                finally:
                    in_flight -= 1

            dv.request = counted  # type: ignore[method-assign]
            await dv.request("GET", "WhoAmI")  # the first answer's dop hint sets the windows
            stop = asyncio.Event()

            bulk_done = 0

            async def busy() -> None:  # a long request at a time, as other chunks' UpsertMultiple
                nonlocal bulk_done
                body = {"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.account", "name": f"A{i}"}
                                    for i in range(500)]}
                while not stop.is_set():
                    try:
                        await dv.execute_action("CreateMultiple", body, entity_set="accounts")
                        bulk_done += 1
                    except Exception:  # noqa: BLE001 - background load only
                        await asyncio.sleep(0.1)

            background = [asyncio.create_task(busy()) for _ in range(upserts)]
            while upserts and dv.metrics.requests < 1 + upserts:  # the long requests are in flight first
                await asyncio.sleep(0.01)
            bulk_done = 0
            started = time.perf_counter()
            warnings = await asyncio.gather(*(load_step._close(dv, spec, ref, r, rid) for r, rid in zip(rows, ids)))
            seconds = time.perf_counter() - started
            during = bulk_done
            stop.set()
            await asyncio.gather(*background)
            return {"records": records, "users": n_users, "seconds": seconds, "closes_per_s": records / seconds,
                    "bulk_requests_per_s": round(during / seconds, 2), "peak_in_flight": peak, "windows": dv.concurrency(), "throttled": dv.metrics.throttled,
                    "warnings": sum(1 for w in warnings if w),
                    "request_limit_per_s": n_users * LIMITS.requests / LIMITS.window_s / time_scale}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=400)
    p.add_argument("--users", type=int, default=1)
    p.add_argument("--time-scale", type=float, default=0.25)
    p.add_argument("--with-upserts", type=int, default=0)
    a = p.parse_args(argv)
    print(asyncio.run(run(a.records, a.users, a.time_scale, a.with_upserts)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
