"""`POST /api/data/v9.2/$batch`: OData multipart/mixed batches as Dataverse answers them.

* Parts are `application/http` requests; a nested `multipart/mixed` part is a change set whose
  requests succeed or fail together (one store transaction) and whose failure answers one error part.
* `Content-ID` of a change-set request can be referenced as `$<id>` at the start of a later URL or as
  an `@odata.bind` value in the same change set.
* At most 1000 requests per batch; no GET inside a change set; no nested change sets or batches.
* Without `Prefer: odata.continue-on-error` the batch stops at the first failed request and answers
  400 (the responses so far plus the failure); with it, 200 and one response per request.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qsl, urlsplit

from . import errors as E
from .errors import DataverseError

MAX_BATCH_REQUESTS = 1000


class _Part:
    def __init__(self, method: str, url: str, headers: dict[str, str], body: bytes,
                 content_id: str | None) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.content_id = content_id


class _ChangeSet:
    def __init__(self, parts: list[_Part]) -> None:
        self.parts = parts


class _Abort(Exception):
    def __init__(self, resp) -> None:
        self.resp = resp


def _boundary(content_type: str) -> str | None:
    m = re.search(r'boundary="?([^";,]+)"?', content_type or "", re.I)
    return m.group(1) if m else None


def _split_multipart(body: bytes, boundary: str) -> list[bytes]:
    delim = b"--" + boundary.encode()
    chunks = body.split(delim)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        elif chunk.startswith(b"\n"):
            chunk = chunk[1:]
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]
        elif chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        parts.append(chunk)
    return parts


def _split_head(data: bytes) -> tuple[list[str], bytes]:
    for sep in (b"\r\n\r\n", b"\n\n"):
        i = data.find(sep)
        if i >= 0:
            head, rest = data[:i], data[i + len(sep):]
            break
    else:
        head, rest = data, b""
    lines = head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    return lines, rest


def _headers(lines: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in lines:
        if ":" in line:
            k, _, v = line.partition(":")
            out[k.strip().lower()] = v.strip()
    return out


def _bad(message: str) -> DataverseError:
    return DataverseError(400, E.ZERO, message)


def _parse_http_part(mime_headers: dict[str, str], payload: bytes, in_changeset: bool) -> _Part:
    ctype = mime_headers.get("content-type", "")
    if ctype.lower().startswith("multipart/mixed"):
        if in_changeset:
            raise _bad("Nested change sets in a batch payload are not supported.")
    lines, body = _split_head(payload)
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise _bad("The batch request part does not contain an HTTP request line.")
    m = re.match(r"^(GET|POST|PATCH|PUT|DELETE|MERGE)\s+(\S+)(?:\s+HTTP/1\.[01])?\s*$", lines[0].strip())
    if not m:
        raise _bad(f"The HTTP request line '{lines[0].strip()}' in the batch is not valid.")
    method, url = m.group(1), m.group(2)
    headers = _headers(lines[1:])
    if body.endswith(b"\r\n"):
        body = body[:-2]
    if in_changeset and method == "GET":
        raise _bad("An invalid HTTP method 'GET' was detected for a request in a change set. Requests in change "
                   "sets only support the HTTP methods 'POST', 'PUT', 'DELETE', and 'PATCH'.")
    if "$batch" in url.split("?")[0]:
        raise _bad("A batch request cannot contain another batch request.")
    return _Part(method, url, headers, body, mime_headers.get("content-id") or headers.get("content-id"))


def parse_batch(body: bytes, boundary: str) -> list[_Part | _ChangeSet]:
    items: list[_Part | _ChangeSet] = []
    for raw in _split_multipart(body, boundary):
        lines, payload = _split_head(raw)
        mh = _headers(lines)
        ctype = mh.get("content-type", "")
        if ctype.lower().startswith("multipart/mixed"):
            cs_boundary = _boundary(ctype)
            if not cs_boundary:
                raise _bad("The change set part has no boundary.")
            parts = []
            for craw in _split_multipart(payload, cs_boundary):
                clines, cpayload = _split_head(craw)
                cmh = _headers(clines)
                parts.append(_parse_http_part(cmh, cpayload, True))
            items.append(_ChangeSet(parts))
        else:
            items.append(_parse_http_part(mh, payload, False))
    return items


def _render(resp, content_id: str | None = None) -> bytes:
    from .core import reason
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"HTTP/1.1 {resp.status} {reason(resp.status)}"]
    for k, v in resp.headers:
        lines.append(f"{k}: {v}")
    lines.append("OData-Version: 4.0")
    lines.append("")
    out = "\r\n".join(lines).encode() + b"\r\n"
    if resp.body:
        out += resp.body + b"\r\n"
    return out


def handle_batch(core, ctx):
    from .core import Ctx, Resp, API_PREFIX
    if ctx.method != "POST":
        raise E.method_not_allowed()
    boundary = _boundary(ctx.headers.get("content-type", ""))
    if not boundary or not ctx.headers.get("content-type", "").lower().startswith("multipart/mixed"):
        raise _bad("The content type '%s' specified in the batch request is not valid: a multipart/mixed content "
                   "type with a boundary is required." % ctx.headers.get("content-type", ""))
    items = parse_batch(ctx.body, boundary)
    total = sum(len(i.parts) if isinstance(i, _ChangeSet) else 1 for i in items)
    for i in items:
        if isinstance(i, _ChangeSet) and len(i.parts) > MAX_BATCH_REQUESTS:
            raise _bad(f"The current change set contains too many operations. A maximum number of "
                       f"'{MAX_BATCH_REQUESTS}' operations are allowed in a change set.")
    if total > MAX_BATCH_REQUESTS:
        raise _bad(f"The current batch message contains too many parts. Only batch messages with a maximum "
                   f"number of '{MAX_BATCH_REQUESTS}' query operations and change sets are allowed.")
    ctx.batch_parts = total
    continue_on_error = "odata.continue-on-error" in ctx.prefer()
    outer_prefer = ctx.headers.get("prefer", "")
    passthrough = {k: v for k, v in ctx.headers.items() if k.startswith("mscrm.") or k in ("callerobjectid",)}

    def sub_ctx(part: _Part, content_ids: dict[str, str] | None):
        url = part.url
        if content_ids and url.startswith("$"):
            m = re.match(r"^\$(\w+)(.*)$", url)
            if m and m.group(1) in content_ids:
                url = content_ids[m.group(1)] + m.group(2)
        split = urlsplit(url)
        path = split.path
        i = path.find(API_PREFIX)
        if i >= 0:
            path = path[i + len(API_PREFIX):]
        elif path.startswith("/"):
            path = path.lstrip("/")
        from urllib.parse import unquote
        headers = dict(passthrough)
        headers.update(part.headers)
        if "prefer" not in part.headers and "return=representation" in outer_prefer:
            pass
        return Ctx(part.method, unquote(path), dict(parse_qsl(split.query, keep_blank_values=True)), headers,
                   part.body, ctx.base, content_ids=content_ids)

    out_parts: list[bytes] = []
    failed = None
    records = 0
    for item in items:
        if isinstance(item, _Part):
            sctx = sub_ctx(item, None)
            resp = core.dispatch(sctx)
            records += sctx.records
            out_parts.append(_render(resp, item.content_id))
            if resp.status >= 400 and not continue_on_error:
                failed = resp
                break
            continue
        content_ids: dict[str, str] = {}
        cs_records = 0
        rendered: list[bytes] = []
        try:
            with core.store.transaction():
                for part in item.parts:
                    sctx = sub_ctx(part, content_ids)
                    resp = core.dispatch(sctx)
                    if resp.status >= 400:
                        raise _Abort((resp, part.content_id))
                    cs_records += sctx.records
                    if part.content_id is not None:
                        eid = dict(resp.headers).get("OData-EntityId")
                        if eid:
                            j = eid.find(API_PREFIX)
                            content_ids[part.content_id] = eid[j + len(API_PREFIX):] if j >= 0 else eid
                    rendered.append(_render(resp, part.content_id))
        except _Abort as abort:
            resp, cid = abort.resp
            out_parts.append(_render(resp, cid))
            if not continue_on_error:
                failed = resp
                break
            continue
        records += cs_records
        cs_boundary = f"changesetresponse_{uuid.uuid4()}"
        inner = b"".join(b"--" + cs_boundary.encode() + b"\r\n" + p for p in rendered)
        inner += b"--" + cs_boundary.encode() + b"--\r\n"
        out_parts.append(f"Content-Type: multipart/mixed; boundary={cs_boundary}\r\n\r\n".encode() + inner)
    ctx.records = records
    boundary_out = f"batchresponse_{uuid.uuid4()}"
    body = b"".join(b"--" + boundary_out.encode() + b"\r\n" + p for p in out_parts)
    body += b"--" + boundary_out.encode() + b"--\r\n"
    headers = [("Content-Type", f"multipart/mixed; boundary={boundary_out}")]
    if continue_on_error:
        headers.append(("Preference-Applied", "odata.continue-on-error"))
    return Resp(400 if failed is not None else 200, headers, body)
