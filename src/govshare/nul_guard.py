"""A NUL character (U+0000) in text is refused at the door, for every route: PostgreSQL cannot store it in a
text column (the write would fail as a 500) and SQLite would store it, so the two databases would disagree.
A query string, a JSON body or a form body that carries one is a 422 naming the field. Uploaded files
(multipart) pass: binary files contain NUL bytes, and their readers judge them."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NUL = "\x00"
MESSAGE = "字段 {field} 含有空字符（U+0000），无法保存"


def nul_field(value, path: str = "") -> str | None:
    """The dotted path of the first string (or key) in a JSON value that holds a NUL."""
    if isinstance(value, str):
        return path or "body" if NUL in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and NUL in key:
            return path or "body"
        found = nul_field(item, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


def _form_field(text: bytes) -> str | None:
    for name, value in parse_qsl(text.decode("latin-1"), keep_blank_values=True):
        if NUL in name or NUL in value:
            return name or "body"
    return None


def _json_field(body: bytes) -> str | None:
    if b"\\u0000" not in body and b"\x00" not in body:
        return None
    try:
        return nul_field(json.loads(body))
    except ValueError:
        return None  # not JSON after all: the route's own validation answers


class RejectNulCharacters:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        query = scope.get("query_string", b"")
        if b"%00" in query and (field := _form_field(query)):
            return await self._refuse(scope, receive, send, field)
        content_type = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type not in (b"application/json", b"application/x-www-form-urlencoded"):
            return await self.app(scope, receive, send)
        body, more = await _read_body(receive)
        field = _json_field(body) if content_type == b"application/json" else (
            _form_field(body) if b"%00" in body else None)
        if field:
            return await self._refuse(scope, receive, send, field)
        return await self.app(scope, _replay(body, more, receive), send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, field: str) -> None:
        from govshare.error_handlers import respond

        response = await respond(Request(scope, receive), 422, "validation_failed", MESSAGE.format(field=field),
                                 field)
        await response(scope, receive, send)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole body, and whether the client went away meanwhile."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replay(body: bytes, disconnected: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if disconnected:
            return {"type": "http.disconnect"}
        return await receive()

    return replay
