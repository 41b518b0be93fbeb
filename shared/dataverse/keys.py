"""Alternate-key values that survive Dataverse URLs.

Dataverse cannot address a record by an alternate key whose value contains any of
``/ < > * % & : \\ ? +`` (GET/PATCH ``accounts(wtc_sourceid='a/b')`` fails even when
percent-encoded). Source ids are therefore stored in the key column *encoded*:

- every forbidden character, and the escape character ``~`` itself, becomes ``~`` followed by the
  two upper-case hex digits of its code point: ``/`` -> ``~2F``, ``~`` -> ``~7E``, ``+`` -> ``~2B``;
- every other character is kept as is, so ordinary ids (``"12345"``, ``"ACME-01"``) are unchanged.

``decode_key(encode_key(s)) == s`` for every string, and an encoded value never contains a forbidden
character (it is made of the original safe characters plus ``~0-9A-F``). ``decode_key`` rejects
malformed input (a ``~`` not followed by two hex digits, or a raw forbidden character).

Everything that refers to a migrated record by key (the loader, ``@odata.bind`` lookups built by
transforms, rollback) must use the encoded value: see :func:`key_ref`.
"""

from __future__ import annotations

import re
from urllib.parse import quote

ESCAPE = "~"
FORBIDDEN = frozenset("/<>*%&:\\?+")
_ESCAPED = FORBIDDEN | {ESCAPE}
_ESCAPE_RE = re.compile(r"~([0-9A-Fa-f]{2})")
_TO_ESCAPE = re.compile("[" + re.escape("".join(sorted(_ESCAPED))) + "]")  # one search, not a look per character


def encode_key(source_id: str) -> str:
    """Encode a source id for use as an alternate-key value (reversible, see module docstring)."""
    if not isinstance(source_id, str):
        source_id = str(source_id)
    if _TO_ESCAPE.search(source_id) is None:
        return source_id
    return "".join(f"~{ord(c):02X}" if c in _ESCAPED else c for c in source_id)


def decode_key(value: str) -> str:
    """Inverse of :func:`encode_key`. Raises ``ValueError`` on a value encode_key cannot produce."""
    if ESCAPE not in value:
        if any(c in FORBIDDEN for c in value):
            raise ValueError(f"not an encoded key (raw forbidden character): {value!r}")
        return value
    out: list[str] = []
    i = 0
    while i < len(value):
        c = value[i]
        if c == ESCAPE:
            m = _ESCAPE_RE.match(value, i)
            if not m:
                raise ValueError(f"malformed escape at position {i} in {value!r}")
            ch = chr(int(m.group(1), 16))
            if ch not in _ESCAPED:
                raise ValueError(f"unexpected escape {m.group(0)!r} in {value!r}")
            out.append(ch)
            i += 3
        elif c in FORBIDDEN:
            raise ValueError(f"not an encoded key (raw forbidden character): {value!r}")
        else:
            out.append(c)
            i += 1
    return "".join(out)


# Characters left alone when a key segment goes into a URL path (OData literal syntax + unreserved).
_PATH_SAFE = "'()=,-._~!$;@"


def key_literal(value: str | int) -> str:
    """OData literal for a key value: strings quoted with inner quotes doubled, numbers bare."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def in_filter(column: str, values: list) -> str:
    """``Microsoft.Dynamics.CRM.In(PropertyName='col',PropertyValues=['a','b'])`` (values as literals)."""
    return f"Microsoft.Dynamics.CRM.In(PropertyName='{column}',PropertyValues=[{','.join(key_literal(v) for v in values)}])"


def key_segment(entity_set: str, column: str, value: str | int, *, url: bool = True) -> str:
    """``accounts(wtc_sourceid='O''Brien')``.

    ``value`` is used as given (encode it first with :func:`encode_key` when it is a source id).
    With ``url=True`` (default) the literal is percent-escaped for a request path (``#``, spaces,
    non-ASCII...); with ``url=False`` it is left raw, for ``@odata.id`` / ``@odata.bind`` in bodies.
    """
    literal = key_literal(value)
    if url:
        literal = quote(literal, safe=_PATH_SAFE)
    return f"{entity_set}({column}={literal})"


def key_ref(entity_set: str, column: str, source_id: str) -> str:
    """``/accounts(wtc_sourceid='...')`` for an ``@odata.bind`` to a migrated record (encodes the id)."""
    return "/" + key_segment(entity_set, column, encode_key(source_id), url=False)


_KEY_REF = re.compile(r"^/?\w+\(\w+='((?:[^']|'')*)'\)$")


def key_of_ref(ref: str) -> str | None:
    """The source id an ``@odata.bind`` made by :func:`key_ref` points at (None for other forms)."""
    m = _KEY_REF.match(ref or "")
    return decode_key(m.group(1).replace("''", "'")) if m else None
