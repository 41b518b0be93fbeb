"""`make demo`: a whole migration on the embedded default, with nothing but this repository.

1. generates a WORKetc sample export with realistic dirt (``emulators.sample_worketc``), or with
   ``--source work4all`` a German work4all vendor export (``emulators.sample_work4all``);
2. starts the Dataverse emulator on a loopback port over HTTPS (a test CA made at start, because
   MSAL refuses plain http), with service protection limits on (time-scaled), and the Microsoft Graph
   emulator (SharePoint document library) beside it;
3. provisions Dynamics 365 users the way an administrator would (POST systemusers);
4. runs ``python -m cli migrate`` against it, authenticating with MSAL client credentials;
5. prints the reconciliation table, the verification figures and the path of the report people read
   (``out/demo/report.html``, with ``summary.md`` for e-mail), and leaves ``out/demo/report.json``, ``rejects.csv``,
   ``warnings.csv``, ``owner_queue.csv`` and the emulator's SQLite file for inspection.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from emulators.common.serve import serve_in_thread
from emulators import graph as graph_emulator
from emulators.dataverse import create_app

CLIENT_ID, CLIENT_SECRET, TENANT = "11111111-2222-3333-4444-555555555555", "demo-secret", "contoso-demo"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="out/demo")
    p.add_argument("--companies", type=int, default=300)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--time-scale", type=float, default=0.02, help="service protection windows x this")
    p.add_argument("--large-file-mb", type=int, default=12, help="one document this large (upload session)")
    p.add_argument("--source", default="worketc", choices=("worketc", "work4all"),
                   help="the sample: a WORKetc CSV export, or a work4all vendor export (German, cp1252, xlsx)")
    p.add_argument("--rollback", action="store_true",
                   help="then roll the run back (python -m cli rollback) and show the residue, table by table")
    args = p.parse_args(argv)

    out = Path(args.out).resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    export, users_file = out / "export", out / "provisioned_users.json"
    started = time.monotonic()

    if args.source == "work4all":  # W1's dirty German vendor export (emulators.sample_work4all)
        print(f"1/4 generating a work4all vendor export in {export}")
        subprocess.run([sys.executable, "-m", "emulators.sample_work4all", "--out", str(export), "--seed",
                        str(args.seed), "--users-out", str(users_file)], check=True)
    else:
        print(f"1/4 generating a WORKetc export of {args.companies} companies in {export}")
        subprocess.run([sys.executable, "-m", "emulators.sample_worketc", "--out", str(export), "--companies",
                        str(args.companies), "--seed", str(args.seed), "--users-out", str(users_file),
                        "--large-file-mb", str(args.large_file_mb)], check=True)

    print("2/4 starting the Dataverse emulator (HTTPS, realistic service protection limits, time-scaled)")
    app = create_app(db=str(out / "dataverse.sqlite"), profile="realistic", time_scale=args.time_scale,
                     clients={CLIENT_ID: CLIENT_SECRET})
    graph = graph_emulator.create_app()
    with serve_in_thread(app, tls=True) as server, serve_in_thread(graph, tls=True) as sharepoint:
        env = {
            **os.environ,
            "DATAVERSE_URL": server.base_url,
            "DATAVERSE_AUTHORITY": f"{server.base_url}/{TENANT}",
            "DATAVERSE_TENANT_ID": TENANT,
            "DATAVERSE_CLIENT_ID": CLIENT_ID,
            "DATAVERSE_CLIENT_SECRET": CLIENT_SECRET,
            "DATAVERSE_CA_BUNDLE": server.ca_file,
            "GRAPH_URL": f"{sharepoint.base_url}/v1.0",
            "GRAPH_CA_BUNDLE": sharepoint.ca_file,
            "GRAPH_TOKEN": graph_emulator.mint_token(graph),
            "SHAREPOINT_SITE_URL": "https://contoso.sharepoint.com/sites/crm",
        }
        print(f"    Dataverse {server.base_url}/api/data/v9.2/ (CA {server.ca_file})")
        print(f"    Graph     {sharepoint.base_url}/v1.0/ (site contoso.sharepoint.com/sites/crm)")

        users = json.loads(users_file.read_text())
        print(f"3/4 provisioning {len(users)} Dynamics 365 users, as the administrator would")
        provision_users(server.base_url, server.ca_file, users)
        before = (table_counts(server.base_url, server.ca_file), len(graph.state.store.items)) if args.rollback else None

        print("4/4 migrating with `python -m cli migrate`")
        kind = {"worketc": "worketc-csv", "work4all": "work4all-export"}[args.source]
        cmd = [sys.executable, "-m", "cli", "migrate", "--source", kind, "--input", str(export),
               "--target", server.base_url, "--out", str(out), "--auto-approve", "--owners", "use-default"]
        print("    " + shown(cmd))
        code = subprocess.run(cmd, env=env).returncode
        if not summarise(out, started):
            return 1
        if before is not None:  # after the migration's figures, so the last lines are the rollback's
            code = roll_back(out, env, server, graph, before) or code
    return code


def summarise(out: Path, started: float) -> bool:
    """The run's figures in two lines, under what the CLI printed (the table, the files, the report's path)."""
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else None
    if report is None:
        print("the migration did not produce a report", file=sys.stderr)
        return False
    t = report["totals"]
    print(f"\n{t['source']} source records: {t['loaded']} loaded ({t['created']} created, {t['updated']} updated, "
          f"{t['unchanged']} unchanged), "
          f"{t['rejected']} rejected with a reason, {t['warnings']} values flagged; "
          f"{report['owner_queue']} owners without a Dynamics 365 user (owner_queue.csv). "
          f"{time.monotonic() - started:.1f} s")
    print(f"verification: {t.get('verified', 0)} rows read back identical field by field, "
          f"{t.get('mismatched', 0)} different, {t.get('missing', 0)} missing (mismatches.csv)")
    # the CLI has just listed the files and printed the report's path: said once, not again here
    if not (out / "report.html").exists():
        print(f"report: {out / 'report.json'} (report.html could not be written: see the log above)")
    return True


def shown(cmd: list[str]) -> str:
    """The command as a person would type it: ``python -m cli ...``, not the venv's interpreter path or nothing."""
    return " ".join(["python", *cmd[1:]])


def roll_back(out: Path, env: dict, server, graph, before: tuple[dict[str, int], int]) -> int:
    """``make demo-rollback``: roll the demo's run back and compare every table with its state before the run."""
    run_id = json.loads((out / "report.json").read_text())["run_id"]
    cmd = [sys.executable, "-m", "cli", "rollback", "--run", run_id, "--out", str(out)]
    print("\nrolling the run back with `python -m cli rollback`\n    " + shown(cmd))
    code = subprocess.run(cmd, env=env).returncode
    after = table_counts(server.base_url, server.ca_file)
    tables, files = before
    changed = {t: (tables.get(t, 0), after.get(t, 0)) for t in sorted(set(tables) | set(after))
               if tables.get(t, 0) != after.get(t, 0)}
    for t, (b, a) in changed.items():
        print(f"    {t}: {b} rows before the run, {a} after the rollback")
    residue = sum(abs(a - b) for b, a in changed.values()) + abs(len(graph.state.store.items) - files)
    print(f"the emulators compared with before the run: residue {residue} (Dataverse: {len(tables)} tables, "
          f"{sum(after.values())} rows; SharePoint: {len(graph.state.store.items)} items, {files} before)")
    return code or (1 if residue else 0)


def table_counts(base_url: str, ca_file: str) -> dict[str, int]:
    """Rows per entity set, read through the Web API as any client would."""
    with httpx.Client(base_url=base_url, verify=_ssl(ca_file), timeout=60) as http:
        headers = {"Authorization": f"Bearer {_token(http, base_url)}", "Prefer": "odata.maxpagesize=5000"}
        ids = {m["EntitySetName"]: m["PrimaryIdAttribute"] for m in http.get(
            "/api/data/v9.2/EntityDefinitions", params={"$select": "EntitySetName,PrimaryIdAttribute"},
            headers=headers).json()["value"]}
        counts = {}
        for es in (s["url"] for s in http.get("/api/data/v9.2/", headers=headers).json()["value"]):
            url, n, params = f"/api/data/v9.2/{es}", 0, {"$select": ids[es]}
            while url:
                r = http.get(url, params=params, headers=headers)
                r.raise_for_status()
                n += len(r.json()["value"])
                url, params = r.json().get("@odata.nextLink"), None
            counts[es] = n
    return counts


def _token(http: httpx.Client, base_url: str) -> str:
    tok = http.post(f"/{TENANT}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "scope": f"{base_url}/.default"})
    tok.raise_for_status()
    return tok.json()["access_token"]


def provision_users(base_url: str, ca_file: str, users: list[dict]) -> None:
    with httpx.Client(base_url=base_url, verify=_ssl(ca_file)) as http:
        tok = http.post(f"/{TENANT}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "scope": f"{base_url}/.default"})
        tok.raise_for_status()
        headers = {"Authorization": f"Bearer {tok.json()['access_token']}"}
        for u in users:
            r = http.post("/api/data/v9.2/systemusers", json=u, headers=headers)
            r.raise_for_status()


def _ssl(ca_file: str):
    import ssl

    return ssl.create_default_context(cafile=ca_file)


if __name__ == "__main__":
    sys.exit(main())
