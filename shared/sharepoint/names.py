"""SharePoint's rules for file and folder names, and the names the migration gives files and folders.

Rules: Microsoft support, "Restrictions and limitations in OneDrive and SharePoint" (:data:`RESTRICTIONS`):
the characters ``" * : < > ? / \\ |`` are not allowed, nor leading or trailing spaces; ``.lock``, ``CON``,
``PRN``, ``AUX``, ``NUL``, ``COM0``-``COM9``, ``LPT0``-``LPT9``, ``desktop.ini`` and names starting with
``~$`` are refused, ``_vti_`` may not appear anywhere, a folder may not start with ``~``; the entire
decoded path is at most 400 characters. Graph answers 400 ``invalidRequest`` for such a name (see
``emulators/graph/store.py``). Names here never hit those answers: they are changed, and every
change is said (the caller warns per file).
"""

from __future__ import annotations

import re
from collections import defaultdict

#: Microsoft support, "Restrictions and limitations in OneDrive and SharePoint": invalid characters,
#: invalid file or folder names, file name and path lengths
RESTRICTIONS = ("https://support.microsoft.com/en-us/office/restrictions-and-limitations-in-onedrive-and-"
                "sharepoint-64883a5d-228e-48f5-b3d2-eb39e07630fa")
#: a file or folder name: SharePoint's MaxLeafNameLength (and Dynamics 365's record folders)
MAX_NAME = 128
#: "The entire decoded file path, including the file name, can't contain more than 400 characters"
#: (RESTRICTIONS), less the "~tmpXX_" an upload session writes first (microsoftgraph/msgraph-sdk-dotnet#2018)
MAX_PATH = 400 - len("~tmpXX_")

_INVALID = re.compile(r'["*:<>?/\\|\x00-\x1f\x7f-\x9f]')  # " * : < > ? / \ | and control characters
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")  # they can disguise a name's extension
_VTI = re.compile("_vti_", re.IGNORECASE)  # "_vti_" cannot appear anywhere in a name
_DEVICE = re.compile(r"(?i)^(?:con|prn|aux|nul|com[0-9]|lpt[0-9])(?=\.|$)")  # with or without an extension


def _clean(name: str, changes: list[str]) -> str:
    """What every SharePoint name needs: no bidirectional controls, no invalid characters, no
    ``_vti_``, no leading or trailing spaces, no trailing dots."""
    for pattern, replacement, change in (
            (_BIDI, "", "bidirectional control characters removed"),
            (_INVALID, "-", 'characters SharePoint refuses (" * : < > ? / \\ | or control characters) '
                            'replaced by "-"'),
            (_VTI, "-vti-", '"_vti_" replaced by "-vti-"')):
        if pattern.search(name):
            name = pattern.sub(replacement, name)
            changes.append(change)
    trimmed = name.lstrip(" ").rstrip(" .")
    if trimmed != name:
        changes.append("leading or trailing spaces and trailing dots removed")
    return trimmed


def _unreserved(name: str, *, folder: bool) -> str:
    """``_`` added to a name SharePoint reserves: device names (``CON.txt`` -> ``CON_.txt``),
    ``desktop.ini`` -> ``desktop_.ini``, ``.lock`` -> ``_.lock``, ``~$x`` -> ``_~$x`` (and, for a
    folder, any leading ``~``)."""
    device = _DEVICE.match(name)
    if device:
        return f"{name[:device.end()]}_{name[device.end():]}"
    if name.lower() == "desktop.ini":
        return f"{name[:7]}_{name[7:]}"
    if name.lower() == ".lock" or name.startswith("~$") or (folder and name.startswith("~")):
        return f"_{name}"
    return name


def _split_ext(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    return (stem, f".{ext}") if dot and stem and len(ext) <= 16 else (name, "")


def _shorten(name: str, max_len: int) -> str:
    stem, ext = _split_ext(name)
    return (stem[:max(max_len - len(ext), 0)].rstrip(" .") + ext)[:max_len]


def safe_name(name: str, *, max_len: int = MAX_NAME) -> tuple[str, list[str]]:
    """``name`` as SharePoint accepts it for a file, and what had to change (empty when nothing did).
    Invalid characters become ``-``, reserved names get a ``_``, names over ``max_len`` characters are
    shortened keeping their extension; see :data:`RESTRICTIONS`."""
    changes: list[str] = []
    s = _clean(name or "", changes)
    unreserved = _unreserved(s, folder=False)
    if unreserved != s:
        changes.append("a name SharePoint reserves: '_' added")
        s = unreserved
    if len(s) > max_len:
        s = _shorten(s, max_len)
        changes.append(f"shortened to {max_len} characters")
    if not s:
        s = "_"
        changes.append("empty name replaced by '_'")
    return s, changes


def with_source_id(name: str, source_id: str, max_len: int = MAX_NAME) -> str | None:
    """``report.pdf`` -> ``report (<source id>).pdf`` within ``max_len`` (the stem is shortened, the
    source id and extension never are); None when not even that fits."""
    stem, ext = _split_ext(name)
    tail = f" ({source_id}){ext}"
    if len(tail) > max_len:
        return None
    return (stem[:max_len - len(tail)].rstrip(" .") + tail).lstrip(" ")


def record_folder_name(name: str | None, record_id: str) -> str:
    """Dynamics 365's folder name for a record: ``<name>_<GUID without dashes, upper case>``, cleaned
    as SharePoint needs it and at most 128 characters (the name is shortened, never the GUID)."""
    guid = record_id.replace("-", "").replace("{", "").replace("}", "").upper()
    label = _unreserved(_clean(name or "", []), folder=True) if (name or "").strip() else ""
    label = label[:MAX_NAME - len(guid) - 1].rstrip(" .")
    return _VTI.sub("-vti-", f"{label}_{guid}")  # "<name ending in _vti>_<GUID>" would hold "_vti_"


def _natural(key: str) -> tuple:
    return (0, int(key), "") if key.isdigit() else (1, 0, key)


def unique_names(names: list[tuple[str, str]]) -> dict[str, str]:
    """``[(source id, name)]`` of one record -> ``{source id: new name}`` for those that must change so
    that no two names are equal (case-insensitive): in a clash the smallest source id keeps its name,
    the others get their source id (repeated while a new name meets another one)."""
    base, final, suffixed = dict(names), dict(names), set()
    while True:
        clashes: dict[str, list[str]] = defaultdict(list)
        for key, name in final.items():
            clashes[name.casefold()].append(key)
        changed = False
        for keys in (k for k in clashes.values() if len(k) > 1):
            keep = None if suffixed.intersection(keys) else min(keys, key=_natural)
            for key in keys:
                if key != keep and key not in suffixed:
                    final[key] = with_source_id(base[key], key) or base[key]
                    suffixed.add(key)
                    changed = True
        if not changed:  # unique (or clashing only between suffixed names: the upload reports that)
            return {key: final[key] for key in sorted(suffixed, key=_natural)}


__all__ = ["MAX_NAME", "MAX_PATH", "RESTRICTIONS", "record_folder_name", "safe_name", "unique_names", "with_source_id"]
