"""The column map as a contract: profile a source, propose a map, write it as mapping.yaml, validate it.

    profile = profile_rows(rows)                                   # profile.py: what each column holds
    defaults = defaults_from_spec(spec, contract=...)              # catalogue.py: what the catalogue maps
    table = TargetTable.from_attributes("account", attributes)     # metadata.py: the target's columns
    mapping = propose(source, [(defaults, profile)], {"account": table})   # propose.py (+ synonyms.py)
    text = dump(mapping, {spec.name: profile})                     # mapfile.py: mapping.yaml
    mapping, errors = check_text(edited_text, tables)              # validate.py
    mapping.content_hash()                                         # what an approval records

Source-neutral: nothing here knows WORKetc or work4all except the catalogue's ``HOOKS`` data.
"""

from .catalogue import (HOOKS, DeclaredColumn, DeclaredField, DeclaredLookup, Hooks, ObjectDefaults, defaults_from_spec,
                        mappable)
from .mapfile import MapFileError, dump, load
from .metadata import TargetColumn, TargetTable
from .model import CustomColumn, Entry, MapError, MappingFile, ObjectMapping, ValueMapping
from .profile import ColumnProfile, Profiler, TableProfile, profile_rows
from .propose import propose, propose_object
from .validate import check_text, validate

__all__ = [
    "HOOKS", "ColumnProfile", "CustomColumn", "DeclaredColumn", "DeclaredField", "DeclaredLookup", "Entry", "Hooks",
    "MapError", "MapFileError", "MappingFile", "ObjectDefaults", "ObjectMapping", "Profiler", "TableProfile",
    "TargetColumn", "TargetTable", "ValueMapping", "check_text", "defaults_from_spec", "dump", "load", "mappable",
    "profile_rows", "propose", "propose_object", "validate",
]
