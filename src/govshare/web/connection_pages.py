"""Pages of data connections (数据连接, issue 12): the platform admin registers a department's databases and
upstream API base addresses and retires them; the auditor reads the list. Thin: every rule is in
gateway.connections; a department's users choose their own connections on the source page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from govshare.authz import Actor
from govshare.deps import SESSION
from govshare.errors import DomainError, Forbidden
from govshare.fields import IdPath
from govshare.gateway import connections
from govshare.orgs import service as orgs
from govshare.orgs.models import Role
from govshare.web.gateway_pages import _field_errors, _refused, _text, form_data
from govshare.web.pages import PageRoute, _fail, _login_redirect, error_page, page_actor, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)

PAGE = "/admin/connections"
FIELDS = ("department_id", "name", "kind", "url", "allowed")
NOTICES = {"registered": "数据连接已登记。", "retired": "数据连接已停用；已接入的数据源照常提供。"}


def _page(request, session: Session, actor: Actor, *, notice=None, error: DomainError | None = None, typed=None):
    if not (actor.is_system or actor.has(Role.PLATFORM_ADMIN, Role.AUDITOR)):
        return error_page(request, session, actor, Forbidden("只有平台管理员和审计员可以查看数据连接", field="role"))
    rows = [connections.view(session, c) for c in connections.visible(session, actor)]
    return render(request, session, actor, "connections.html", status_code=error.status_code if error else 200,
                  rows=rows, departments=orgs.list_departments(session), notice=notice,
                  error=error.message if error else None, field_errors=_field_errors(error),
                  form=typed or {name: "" for name in FIELDS}, can_manage=actor.has(Role.PLATFORM_ADMIN))


@router.get(PAGE, response_class=HTMLResponse)
def connection_list(request: Request, notice: str = "", session: Session = SESSION,
                    actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(PAGE)
    return _page(request, session, actor, notice=NOTICES.get(notice))


def _act(request, session: Session, actor: Actor | None, action, done: str, typed: dict | None = None):
    if actor is None:
        return _login_redirect(PAGE)
    try:
        action()
    except DomainError as exc:
        _fail(session)
        if _refused(exc):
            return error_page(request, session, actor, exc)
        return _page(request, session, actor, error=exc, typed=typed)
    session.commit()
    return RedirectResponse(f"{PAGE}?notice={done}", status_code=303)


@router.post(PAGE, response_class=HTMLResponse)
def connection_register(request: Request, form: FormData = Depends(form_data), session: Session = SESSION,
                        actor: Actor | None = Depends(page_actor)):
    typed = {name: _text(form, name) for name in FIELDS}
    internal = _text(form, "internal") == "1"
    allowed = [line for line in typed["allowed"].replace("，", ",").replace("\n", ",").split(",") if line.strip()]
    department = int(typed["department_id"]) if typed["department_id"].isdigit() else 0

    def action():
        connections.register(session, actor, department, typed["name"], typed["kind"], typed["url"], allowed,
                             internal)

    return _act(request, session, actor, action, "registered", {**typed, "url": ""})  # never echo a password


@router.post(PAGE + "/{connection_id}/retire", response_class=HTMLResponse)
def connection_retire(request: Request, connection_id: IdPath, session: Session = SESSION,
                      actor: Actor | None = Depends(page_actor)):
    return _act(request, session, actor, lambda: connections.retire(session, actor, connection_id), "retired")
