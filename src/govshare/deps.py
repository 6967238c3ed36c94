"""FastAPI dependencies shared by every router: the database session and the acting user."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.errors import NotAuthenticated
from govshare.orgs import service as orgs_service

SESSION_COOKIE = "govshare_token"
READ_METHODS = ("GET", "HEAD", "OPTIONS")


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.db.session(read_only=request.method in READ_METHODS) as session:
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit is a 500,
# never a success for data that was not stored. Every route and dependency uses this one object, so a
# request has exactly one session. GET requests read without taking SQLite's write lock.
SESSION = Depends(get_session, scope="function")


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


def current_actor(request: Request, session: Session = SESSION) -> Actor:
    token = bearer_token(request)
    if not token:
        raise NotAuthenticated("需要登录或提供访问令牌（Authorization: Bearer …）", field="authorization")
    return orgs_service.authenticate(session, token)
