"""FastAPI dependencies shared by every router: the database session and the acting user."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.errors import Forbidden, NotAuthenticated
from govshare.orgs import service as orgs_service

SESSION_COOKIE = "govshare_token"
READ_METHODS = ("GET", "HEAD", "OPTIONS")
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.db.session(read_only=request.method in READ_METHODS) as session:
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit is a 500,
# never a success for data that was not stored. Every route and dependency uses this one object, so a
# request has exactly one session. GET requests read without taking SQLite's write lock.
SESSION = Depends(get_session, scope="function")


def client_address(request: Request) -> str:
    """The client's address (login throttling): the peer's, or behind a reverse proxy (GOVSHARE_BEHIND_PROXY)
    the last X-Forwarded-For entry, the one the proxy added; entries before it are the client's own word."""
    if request.app.state.settings.behind_proxy:
        forwarded = [part.strip() for header in request.headers.getlist("x-forwarded-for")
                     for part in header.split(",") if part.strip()]
        if forwarded:
            return forwarded[-1]
    return request.client.host if request.client else ""


def header_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def bearer_token(request: Request) -> str | None:
    return header_token(request) or request.cookies.get(SESSION_COOKIE)


def csrf_token(session_token: str) -> str:
    """The anti-CSRF token of a login session: derived from the session token, so nothing new is stored and
    a page of another site (which cannot read the HttpOnly cookie) cannot know it."""
    return hmac.new(session_token.encode(), b"csrf", hashlib.sha256).hexdigest()


def csrf_valid(session_token: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(session_token), presented)


def require_csrf_for_cookie_writes(request: Request) -> None:
    """A browser sends the cookie with any site's form or fetch, but never an Authorization header or the
    CSRF header on its own: an API write authenticated only by the cookie must carry X-CSRF-Token."""
    if request.method in READ_METHODS or header_token(request):
        return
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and not csrf_valid(cookie, request.headers.get(CSRF_HEADER)):
        raise Forbidden("使用登录会话（Cookie）写入时必须提供有效的 X-CSRF-Token 请求头，以防跨站请求伪造；"
                        "程序请使用 Authorization: Bearer 访问令牌", field="csrf_token")


def current_actor(request: Request, session: Session = SESSION) -> Actor:
    token = bearer_token(request)
    if not token:
        raise NotAuthenticated("需要登录或提供访问令牌（Authorization: Bearer …）", field="authorization")
    actor = orgs_service.authenticate(session, token)
    require_csrf_for_cookie_writes(request)
    return actor
