"""FastAPI dependencies shared by every router: the database session and the acting user."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.errors import NotAuthenticated
from govshare.orgs import service as orgs_service

SESSION_COOKIE = "govshare_token"


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.db.session() as session:
        yield session


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(SESSION_COOKIE)


def current_actor(request: Request, session: Session = Depends(get_session)) -> Actor:
    token = bearer_token(request)
    if not token:
        raise NotAuthenticated("需要登录或提供访问令牌（Authorization: Bearer …）", field="authorization")
    return orgs_service.authenticate(session, token)


def optional_actor(request: Request, session: Session = Depends(get_session)) -> Actor | None:
    token = bearer_token(request)
    return orgs_service.authenticate(session, token) if token else None
