"""Text no database can store is refused at the door, for every route, as a 422 naming the field:

- a NUL character (U+0000): PostgreSQL cannot store it in a text column (the write would fail as a 500) and
  SQLite would store it, so the two databases would disagree;
- a lone UTF-16 surrogate (U+D800–U+DFFF): a JSON body may carry one as an escape (`"\\ud800"` with no low
  surrogate after it) or as raw bytes (json.loads reads UTF-8 with surrogatepass), and such a string cannot
  be encoded as UTF-8 at all: the usage record's hash (audit/chain.py), the database driver and the response
  all fail on it, a 500 with no record. A query string or form field is decoded as UTF-8 with replacement
  and so never holds one itself, but several of them carry JSON the route decodes later (a column map), so an
  unpaired `\\ud800`-style escape in one is refused the same way.

The scans are cheap: a JSON body is parsed here only when its raw bytes hold a NUL, a `\\u` escape of a
surrogate or the UTF-8 bytes of one; a query string or form body only when it holds a NUL or a backslash.
Uploaded files (multipart) pass: binary files contain NUL bytes, and their readers judge them."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NUL = "\x00"
MESSAGE = "字段 {field} 含有空字符（U+0000），无法保存"
SURROGATE_MESSAGE = "字段 {field} 包含无法存储的字符（不成对的 UTF-16 代理项，如 \\ud800）"

_NUL_OR_SURROGATE = re.compile("[\x00\ud800-\udfff]")
# what a raw JSON body holds when json.loads may give a surrogate: a \uD800–\uDFFF escape, or UTF-8 bytes of one
_RAW_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
# one escape of JSON text: \uXXXX, or a backslash and the character it escapes (so \\ud800 is text)
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)", re.S)


def bad_text(text: str) -> str | None:
    """The message template for text no database can store (a NUL or a surrogate), else None."""
    found = _NUL_OR_SURROGATE.search(text)
    if found is None:
        return None
    return MESSAGE if found.group() == NUL else SURROGATE_MESSAGE


def bad_field(value, path: str = "") -> tuple[str, str] | None:
    """(dotted path, message template) of the first string or key in a JSON value that cannot be stored."""
    if isinstance(value, str):
        message = bad_text(value)
        return (path or "body", message) if message else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and (message := bad_text(key)):
            return path or "body", message  # the key itself must not end up in the answer
        found = bad_field(item, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


def unpaired_surrogate_escape(text: str) -> bool:
    """Whether text holds a \\uD800–\\uDFFF escape that, read as JSON, gives a lone surrogate: a high one not
    directly followed by a low one, or a low one not directly after a high one."""
    high_ends = -1  # where the last unmatched high-surrogate escape ended
    for escape in _ESCAPE.finditer(text):
        code = int(escape.group(1), 16) if escape.group(1) else None
        if high_ends >= 0:
            if escape.start() == high_ends and code is not None and 0xDC00 <= code <= 0xDFFF:
                high_ends = -1
                continue
            return True
        if code is not None and 0xD800 <= code <= 0xDBFF:
            high_ends = escape.end()
        elif code is not None and 0xDC00 <= code <= 0xDFFF:
            return True
    return high_ends >= 0


def _form_field(text: bytes, escapes: bool = False) -> tuple[str, str] | None:
    """(field, message template) of the first field of a query string or form body that cannot be stored; with
    `escapes`, an unpaired surrogate escape in a value counts too."""
    for name, value in parse_qsl(text.decode("latin-1"), keep_blank_values=True):
        message = bad_text(name) or bad_text(value)
        if message is None and escapes and (unpaired_surrogate_escape(name) or unpaired_surrogate_escape(value)):
            message = SURROGATE_MESSAGE
        if message:
            field = name if name and bad_text(name) is None else "body"
            return field, message
    return None


def _form_check(text: bytes) -> tuple[str, str] | None:
    # substring tests first (a fast scan): the fields are decoded only when a NUL or a backslash may be there
    # (any character may be percent-encoded, so the decoded values are what is judged)
    escapes = b"%5c" in text or b"%5C" in text or b"\\" in text
    if b"%00" not in text and not escapes:
        return None
    return _form_field(text, escapes)


def _json_field(body: bytes) -> tuple[str, str] | None:
    if b"\\u0000" not in body and b"\x00" not in body and not (
            (b"\\ud" in body or b"\\uD" in body or b"\xed" in body) and _RAW_SURROGATE.search(body)):
        return None
    try:
        return bad_field(json.loads(body))
    except ValueError:
        return None  # not JSON after all: the route's own validation answers


def _is_json(content_type: bytes) -> bool:
    """What FastAPI reads as JSON: application/json and any application/…+json."""
    return content_type == b"application/json" or (
        content_type.startswith(b"application/") and content_type.endswith(b"+json"))


class RejectNulCharacters:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        query = scope.get("query_string", b"")
        # the key lookup's hot path: substring scans only, unless a NUL or a backslash (%5C) may be there
        if (b"%00" in query or b"%5" in query or b"\\" in query) and (found := _form_check(query)):
            return await self._refuse(scope, receive, send, found)
        content_type = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
        is_json = _is_json(content_type)
        if not is_json and content_type != b"application/x-www-form-urlencoded":
            return await self.app(scope, receive, send)
        body, more = await _read_body(receive)
        found = _json_field(body) if is_json else _form_check(body)
        if found:
            return await self._refuse(scope, receive, send, found)
        return await self.app(scope, _replay(body, more, receive), send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, found: tuple[str, str]) -> None:
        from govshare.error_handlers import respond

        field, message = found
        response = await respond(Request(scope, receive), 422, "validation_failed", message.format(field=field),
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
