"""catalogue.HOOKS says what the catalogue's shape/close hooks read and set: checked against the hooks."""

from __future__ import annotations

import dataclasses
import re
import pytest

from shared.mapping import HOOKS, mappable
from shared.objects import catalogue, worketc
from shared.sources.worketc import csv_export
from shared.transform import LookupTarget, Shaping, TransformContext, Transformer


class Recording(dict):
    """A source row that remembers which columns were read."""

    def __init__(self, row: dict):
        super().__init__(row)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


class Everything:
    """``loaded`` of a lookup target: every id (so binds succeed) or none (so placeholders and omissions run)."""

    def __init__(self, present: bool):
        self.present = present

    def __contains__(self, _):
        return self.present

    def __iter__(self):  # what a case-insensitive comparison folds: nothing beyond __contains__'s answer
        return iter(())


class AnyCurrency(dict):
    def get(self, key, default=None):
        return "00000000-0000-0000-0000-000000000001"


def context(bind: bool, config: dict) -> TransformContext:
    """A run where every lookup target binds, or none does (so placeholders and omissions run too)."""
    targets = {n: LookupTarget("account", "accounts", "wtc_sourceid", "", Everything(bind)) for n in worketc.OBJECTS}
    return TransformContext(owners={}, default_owner="00000000-0000-0000-0000-000000000002", lookup_targets=targets,
                            custom_columns=[], currencies=AnyCurrency(), config=config)


def _column(key: str) -> str:
    return re.sub(r"_(account|contact)$", "", key.removesuffix("@odata.bind"))


HOOKED = [s for s in catalogue("worketc-csv").values() if mappable(s) and (s.shape or s.close)]


def test_every_hooked_object_is_described():
    assert {s.name for s in HOOKED} <= {name for _, name in HOOKS}


@pytest.mark.parametrize("spec", HOOKED, ids=lambda s: s.name)
def test_hooks_read_and_set_no_more_than_declared(spec, export):
    stages, _ = worketc._stage_config(list(csv_export.read_table(export, "project_stages.csv")))
    hooks = HOOKS[(spec.source, spec.name)]
    declared_reads = {*hooks.reads, *(f.source for f in spec.fields), *(lk.source for lk in spec.lookups),
                      *(lk.type_field for lk in spec.lookups if lk.type_field), spec.key_field, spec.owner_field,
                      spec.created_field}
    reads: set[str] = set()
    sets: set[str] = set()
    rows = list(csv_export.read_table(export, spec.file))[:80]
    assert rows
    field_map_only = dataclasses.replace(spec, shape=None, close=None)
    for row in rows:
        for bind in (True, False):
            ctx = context(bind, {"project_stage": stages})
            out = Transformer(field_map_only, ctx).row(row)
            if out.row is None:
                continue  # rejected before any hook runs
            tables = [out.row.get("table", spec.table)] + ([spec.fallback_table] if spec.fallback_table else [])
            for table in tables:
                src, before = Recording(row), out.row["body"]
                body = dict(before)
                if spec.shape:
                    body = spec.shape(src, body, lambda *a: None, Shaping(Transformer(spec, ctx), table))
                if spec.close:
                    spec.close.when(src, body)
                reads |= src.read
                sets |= {_column(k) for k in body} - {_column(k) for k in before}
    assert reads - {"_file", "_row"} <= declared_reads, "HOOKS lacks what the hooks read"
    assert sets <= {*hooks.sets, *(f.target for f in spec.fields)}, "HOOKS lacks what the hooks set"
