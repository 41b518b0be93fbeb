"""Graph error responses: ``{"error": {"code", "message", "innerError": {...}}}``."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from starlette.responses import JSONResponse


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
                 inner_code: str | None = None, extra: dict | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.inner_code = inner_code
        self.extra = extra or {}


def error_body(code: str, message: str, *, inner_code: str | None = None, request_id: str | None = None) -> dict:
    request_id = request_id or str(uuid.uuid4())
    inner = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": request_id,
    }
    if inner_code:
        inner["code"] = inner_code
    return {"error": {"code": code, "message": message, "innerError": inner}}


def error_response(err: GraphError, request_id: str | None = None) -> JSONResponse:
    body = error_body(err.code, err.message, inner_code=err.inner_code, request_id=request_id)
    body["error"].update(err.extra)
    headers = {"request-id": body["error"]["innerError"]["request-id"], **err.headers}
    return JSONResponse(body, status_code=err.status, headers=headers)
