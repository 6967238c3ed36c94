"""数据预览: a person sees the first rows of shared data in the UI through the same gateway function as every
consumer system (gateway.service.access, mode preview): the requester department with its grant, masked as
the grant says; the provider its own connected data. Each preview is a usage record."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.catalog.models import CatalogEntry
from govshare.deps import SESSION
from govshare.errors import DomainError, NotFound
from govshare.fields import IdQuery
from govshare.gateway.service import Call, Caller, Mode, access
from govshare.sharing import service as sharing
from govshare.web.pages import PageRoute, _login_redirect, error_page, page_actor, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)


def _resource_code(session: Session, actor: Actor, grant: int | None, entry: int | None) -> str:
    """The resource the preview is of: the grant's entry (visible to the caller), or an entry by id."""
    if grant is not None:
        return sharing.get_grant(session, actor, grant).entry.resource_code
    found = session.get(CatalogEntry, entry) if entry is not None else None
    if found is None:
        raise NotFound("请指定要预览的共享授权或目录", field="grant")
    return found.resource_code


@router.get("/data/preview", response_class=HTMLResponse)
def preview(request: Request, grant: IdQuery | None = None, entry: IdQuery | None = None, session: Session = SESSION,
            actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(str(request.url.path) + ("?" + request.url.query if request.url.query else ""))
    try:
        code = _resource_code(session, actor, grant, entry)
        outcome = access(request.app.state.db, Caller(actor=actor), Call(Mode.PREVIEW, code, grant_id=grant))
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    return render(request, session, actor, "data_preview.html", code=code, grant=grant, outcome=outcome)
