"""The discovery deliverable: a scope document written from what discovery found.

Source-neutral: everything comes from the objects' declarations (pipelines, tables, custom tables,
role columns) and the profiles of what the source holds. Written as ``report/scope.md`` and as data
in ``mapping/scope.json`` (the review page shows it; the final report links it).
"""

from __future__ import annotations

from typing import Any, Mapping

from ..mapping import MappingFile, TableProfile
from ..objects import ObjectSpec

#: Sales Professional may use at most 15 custom tables; Enterprise has no such limit
#: (Dynamics 365 Licensing Guide; ../shared/REFERENCE.md, "Licensing")
PROFESSIONAL_CUSTOM_TABLES = 15
ACCESS = {"csv": "an export (CSV files)", "soap": "the API (SOAP)", "graphql": "the API (GraphQL)",
          "xlsx": "an export (Excel)"}


def scope(source_kind: str, specs: Mapping[str, ObjectSpec], presence: Mapping[str, str],
          profiles: Mapping[str, TableProfile], mapping: MappingFile) -> dict[str, Any]:
    """What the migration covers, as data: counts, custom fields and tables, edition, security model."""
    objects = []
    for name, spec in specs.items():
        p = profiles.get(name)
        objects.append({"object": name, "file": spec.file, "table": spec.table, "pipeline": spec.pipeline,
                        "presence": presence.get(name, "absent"), "records": p.rows if p else None})
    custom_tables = sorted({s.custom_table[0].lower() for n, s in specs.items()
                            if s.custom_table and presence.get(n) == "present"})
    custom_columns = [f"{o.table}.{e.target}" for o in mapping.objects for e in o.entries if e.custom is not None]
    roles: dict[str, int] = {}
    for name, spec in specs.items():
        column = profiles[name].column(spec.role_field) if spec.role_field and name in profiles else None
        for value, count in (column.top if column else []):
            roles[f"{value}"] = roles.get(f"{value}", 0) + count
    n_tables = len(custom_tables)
    edition = ("Sales Professional" if n_tables <= PROFESSIONAL_CUSTOM_TABLES else "Sales Enterprise",
               f"the map creates {n_tables} custom table(s); Sales Professional allows at most "
               f"{PROFESSIONAL_CUSTOM_TABLES}" + ("" if n_tables <= PROFESSIONAL_CUSTOM_TABLES
                                                   else ", so only Enterprise can hold them"))
    return {
        "source": source_kind,
        "access": ACCESS.get(source_kind.rsplit("-", 1)[-1], source_kind),
        "objects": objects,
        "custom_fields": sum((profiles[n].rows if n in profiles else 0)
                             for n, s in specs.items() if s.pipeline == "custom_fields"),
        "custom_columns": custom_columns,
        "custom_tables": custom_tables,
        "edition": {"recommended": edition[0], "why": edition[1]},
        "workflows": sum((profiles[n].rows if n in profiles else 0)
                         for n, s in specs.items() if s.pipeline == "inventory"),
        "owners": sum((profiles[n].rows if n in profiles else 0) for n, s in specs.items() if s.pipeline == "owners"),
        "roles": [{"role": r, "people": c, "proposal": f"a security role and a team '{r}'"}
                  for r, c in sorted(roles.items(), key=lambda rc: (-rc[1], rc[0]))],
    }


def scope_markdown(doc: Mapping[str, Any], run_id: str) -> str:
    lines = [f"# Migration scope: run {run_id}", "",
             f"Source: **{doc['source']}**, read through {doc['access']}.", "",
             "## Objects", "", "| object | file | target | found | records |", "|---|---|---|---|---:|"]
    for o in doc["objects"]:
        records = "" if o["records"] is None else f"{o['records']:,}"
        lines.append(f"| {o['object']} | {o['file']} | {o['table'] or o['pipeline']} | {o['presence']} | {records} |")
    lines += ["", "## Schema", "",
              f"- Custom field definitions in the source: {doc['custom_fields']}",
              f"- Custom columns the proposed map creates: {len(doc['custom_columns'])}"
              + (f" ({', '.join(doc['custom_columns'][:20])}{', ...' if len(doc['custom_columns']) > 20 else ''})"
                 if doc["custom_columns"] else ""),
              f"- Custom tables: {len(doc['custom_tables'])}" + (f" ({', '.join(doc['custom_tables'])})"
                                                                 if doc["custom_tables"] else ""),
              f"- Edition: **{doc['edition']['recommended']}**: {doc['edition']['why']}.",
              f"- Workflows to rebuild (inventory, not migrated): {doc['workflows']}",
              "", "## People and security model", "",
              f"- Users in the source: {doc['owners']} (matched to Dynamics 365 users by e-mail; the rest wait "
              "for the administrator at the owner gate)"]
    if doc["roles"]:
        lines += ["- Proposed for the administrator (from the source's roles):", ""]
        lines += [f"  - {r['role']}: {r['people']} people -> {r['proposal']}" for r in doc["roles"]]
    return "\n".join(lines) + "\n"
