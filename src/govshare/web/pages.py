"""Chinese UI: server-rendered pages (Jinja2). Every page calls the same services as the API; the login
sets the session cookie that `deps.bearer_token` reads, so pages and API share one authentication."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.catalog import service as catalog
from govshare.catalog.vocab import (
    DataFormat,
    EntryStatus,
    Grade,
    ItemType,
    OpenAttribute,
    PersonalInfo,
    RevisionStatus,
    ShareMethod,
    ShareType,
    UpdateCycle,
)
from govshare.deps import SESSION_COOKIE, bearer_token, get_session
from govshare.errors import DomainError, Forbidden, NotAuthenticated, NotFound
from govshare.orgs import service as orgs
from govshare.orgs.models import ROLE_LABELS, Role
from govshare.search import service as search_service

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))

router = APIRouter(include_in_schema=False)

LABELS: dict[str, dict[str, str]] = {
    "share_type": ShareType.labels(),
    "share_method": ShareMethod.labels(),
    "open_attribute": OpenAttribute.labels(),
    "data_format": DataFormat.labels(),
    "update_cycle": UpdateCycle.labels(),
    "grade": Grade.labels(),
    "personal_info": PersonalInfo.labels(),
    "data_type": ItemType.labels(),
    "status": EntryStatus.labels(),
    "revision_status": RevisionStatus.labels(),
    "role": {role.value: label for role, label in ROLE_LABELS.items()},
    "action": {
        "created": "创建草稿",
        "updated": "修改",
        "submitted": "提交审核",
        "published": "审核发布",
        "returned": "退回",
        "data_updated": "确认数据已更新",
        "revision_submitted": "提交修订",
        "revision_returned": "修订退回",
    },
}
PAGE_SIZE = 20


def label(value, kind: str) -> str:
    """The Chinese label of a stored code; unknown codes are shown as they are."""
    if value is None or value == "":
        return "—"
    return LABELS.get(kind, {}).get(str(value), str(value))


templates.env.filters["label"] = label
templates.env.globals["LABELS"] = LABELS


# ---------------------------------------------------------------- who is looking


def page_actor(request: Request, session: Session = Depends(get_session)) -> Actor | None:
    token = bearer_token(request)
    if not token:
        return None
    try:
        return orgs.authenticate(session, token)
    except NotAuthenticated:
        return None


def _me(session: Session, actor: Actor | None) -> dict | None:
    if actor is None:
        return None
    department = orgs.get_department(session, actor.department_id) if actor.department_id else None
    return {
        "username": actor.username,
        "role": actor.role.value,
        "role_label": ROLE_LABELS.get(actor.role, actor.role.value),
        "department": department.name if department else "",
        "is_manager": actor.has(Role.CATALOG_MANAGER),
        "is_reviewer": actor.has(Role.AUTHORITY_REVIEWER) and actor.is_competent_authority,
    }


def render(request: Request, session: Session, actor: Actor | None, name: str, status_code: int = 200,
           **context) -> HTMLResponse:
    context.setdefault("error", None)
    context.setdefault("notice", None)
    return templates.TemplateResponse(request, name, {"me": _me(session, actor), **context},
                                      status_code=status_code)


def error_page(request: Request, session: Session, actor: Actor | None, exc: DomainError) -> HTMLResponse:
    titles = {404: "页面或目录不存在", 403: "无权访问"}
    return render(request, session, actor, "error.html", status_code=exc.status_code,
                  title=titles.get(exc.status_code, "操作未完成"), message=exc.message)


def _login_redirect(next_url: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(next_url)}", status_code=303)


def _safe_next(next_url: str | None) -> str:
    """Only local paths: a login form must not send the user to another site."""
    if not next_url:
        return "/"
    parts = urlsplit(next_url)
    if parts.scheme or parts.netloc or not next_url.startswith("/") or next_url.startswith("//") or "\\" in next_url:
        return "/"
    return next_url


def _fail(session: Session) -> None:
    """Nothing of a refused action is kept: the unit of work is rolled back before the page is shown."""
    session.rollback()


# ---------------------------------------------------------------- static files


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    path = (STATIC_DIR / name).resolve()
    if path.parent != STATIC_DIR or not path.is_file():
        return Response("文件不存在", status_code=404, media_type="text/plain; charset=utf-8")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})


# ---------------------------------------------------------------- login


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", session: Session = Depends(get_session),
               actor: Actor | None = Depends(page_actor)):
    return render(request, session, actor, "login.html", next=_safe_next(next), username="")


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
    session: Session = Depends(get_session),
):
    hours = request.app.state.settings.session_hours
    try:
        token = orgs.login(session, username.strip(), password, session_hours=hours)
    except DomainError as exc:
        _fail(session)
        return render(request, session, None, "login.html", status_code=401, error=exc.message,
                      next=_safe_next(next), username=username)
    session.commit()
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=hours * 3600, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return response


@router.post("/logout")
def logout(request: Request, session: Session = Depends(get_session)):
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        orgs.logout(session, token)
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# ---------------------------------------------------------------- catalog search and detail


def find_published(request: Request, session: Session, actor: Actor, *, q: str, share_type: str,
                   provider_id: int | None, page: int) -> tuple[list, bool, dict]:
    """Published entries matching the query and filters, one page at a time: (entries, has_more, highlights).
    The search index ranks them (jieba + BM25, synonyms, lead source first); while no index has been built
    on this node, the published catalog is listed and filtered by plain text instead."""
    filters = search_service.parse_filters(share_type=share_type or None,
                                           department=str(provider_id) if provider_id else None)
    offset = (page - 1) * PAGE_SIZE
    result = search_service.search(request.app.state.settings.resolved_index_dir, q, filters,
                                   limit=PAGE_SIZE, offset=offset, facets=False)
    if result["notice"] is None:
        entries, highlights = [], {}
        for hit in result["hits"]:
            try:
                entries.append(catalog.get_entry(session, actor, int(hit["id"])))
            except NotFound:  # withdrawn since the index was written
                continue
            highlights[entries[-1].id] = hit.get("highlight")
        return entries, offset + len(result["hits"]) < result["total"], highlights
    entries = catalog.list_entries(session, actor, status=EntryStatus.PUBLISHED.value, provider_id=provider_id,
                                   limit=500)
    if share_type:
        entries = [e for e in entries if e.share_type == share_type]
    if q:
        words = q.split()
        entries = [e for e in entries if all(_matches(e, w) for w in words)]
    return entries[offset:offset + PAGE_SIZE], len(entries) > offset + PAGE_SIZE, {}


def _matches(entry, word: str) -> bool:
    texts = [entry.name, entry.abstract, entry.resource_code, entry.provider.name, entry.theme]
    texts += [i.chinese_name for i in entry.items]
    return any(word.lower() in (t or "").lower() for t in texts)


@router.get("/", response_class=HTMLResponse)
@router.get("/catalog", response_class=HTMLResponse)
def catalog_search(
    request: Request,
    q: str = "",
    share_type: str = "",
    provider_id: str = "",
    page: str = "1",
    session: Session = Depends(get_session),
    actor: Actor | None = Depends(page_actor),
):
    if actor is None:
        return _login_redirect(str(request.url.path))
    provider = int(provider_id) if provider_id.isdigit() else None
    share_type = share_type if share_type in LABELS["share_type"] else ""
    page_number = max(int(page), 1) if page.isdigit() else 1
    try:
        entries, has_more, highlights = find_published(request, session, actor, q=q.strip(), share_type=share_type,
                                                       provider_id=provider, page=page_number)
    except DomainError as exc:
        entries, has_more, highlights, error = [], False, {}, exc.message
    else:
        error = None
    return render(request, session, actor, "catalog_list.html", entries=entries, q=q, share_type=share_type,
                  highlights=highlights, error=error,
                  provider_id=provider, page=page_number, has_more=has_more,
                  departments=orgs.list_departments(session))


@router.get("/catalog/{entry_id}", response_class=HTMLResponse)
def entry_detail(request: Request, entry_id: int, session: Session = Depends(get_session),
                 actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(f"/catalog/{entry_id}")
    try:
        entry = catalog.get_entry(session, actor, entry_id)
        events = catalog.history(session, actor, entry_id)
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    return render(request, session, actor, "entry_detail.html", entry=entry, events=events,
                  stale=catalog.is_stale(entry))


# ---------------------------------------------------------------- my catalog (catalog managers)


@router.get("/my/catalog", response_class=HTMLResponse)
def my_catalog(request: Request, notice: str = "", session: Session = Depends(get_session),
               actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/my/catalog")
    if not actor.has(Role.CATALOG_MANAGER):
        return error_page(request, session, actor, Forbidden("“我的目录”仅供部门目录管理员使用"))
    return _my_catalog_page(request, session, actor, notice=_notice(notice))


def _my_catalog_page(request, session, actor, *, error=None, notice=None, status_code=200):
    entries = catalog.list_entries(session, actor, provider_id=actor.department_id, limit=500)
    return render(request, session, actor, "my_catalog.html", status_code=status_code, entries=entries,
                  error=error, notice=notice)


NOTICES = {
    "submitted": "已提交审核，等待主管部门审核。",
    "published": "目录已发布。",
    "returned": "目录已退回，提供部门可修改后重新提交。",
}


def _notice(key: str) -> str | None:
    return NOTICES.get(key)


@router.post("/my/catalog/{entry_id}/submit")
def my_catalog_submit(request: Request, entry_id: int, session: Session = Depends(get_session),
                      actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/my/catalog")
    try:
        catalog.submit_entry(session, actor, entry_id)
    except DomainError as exc:
        _fail(session)
        if not actor.has(Role.CATALOG_MANAGER) or isinstance(exc, NotFound):
            return error_page(request, session, actor, exc)
        return _my_catalog_page(request, session, actor, error=exc.message, status_code=exc.status_code)
    session.commit()
    return RedirectResponse("/my/catalog?notice=submitted", status_code=303)


# ---------------------------------------------------------------- review queue (competent authority)


def _is_reviewer(actor: Actor) -> bool:
    return actor.has(Role.AUTHORITY_REVIEWER) and actor.is_competent_authority


@router.get("/review", response_class=HTMLResponse)
def review_queue(request: Request, notice: str = "", session: Session = Depends(get_session),
                 actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/review")
    if not _is_reviewer(actor):
        return error_page(request, session, actor, Forbidden("审核队列仅供主管部门审核员使用"))
    return _review_page(request, session, actor, notice=_notice(notice))


def _review_page(request, session, actor, *, error=None, notice=None, status_code=200, error_entry=None):
    entries = catalog.list_entries(session, actor, status=EntryStatus.SUBMITTED.value, limit=500)
    return render(request, session, actor, "review.html", status_code=status_code, entries=entries,
                  error=error, notice=notice, error_entry=error_entry)


def _review_action(request, session, actor, entry_id: int, action, done: str):
    if actor is None:
        return _login_redirect("/review")
    try:
        action()
    except DomainError as exc:
        _fail(session)
        if not _is_reviewer(actor) or isinstance(exc, NotFound):
            return error_page(request, session, actor, exc)
        return _review_page(request, session, actor, error=exc.message, status_code=exc.status_code,
                            error_entry=entry_id)
    session.commit()
    return RedirectResponse(f"/review?notice={done}", status_code=303)


@router.post("/review/{entry_id}/publish")
def review_publish(request: Request, entry_id: int, session: Session = Depends(get_session),
                   actor: Actor | None = Depends(page_actor)):
    return _review_action(request, session, actor, entry_id,
                          lambda: catalog.publish_entry(session, actor, entry_id), "published")


@router.post("/review/{entry_id}/return")
def review_return(request: Request, entry_id: int, reason: str = Form(""), session: Session = Depends(get_session),
                  actor: Actor | None = Depends(page_actor)):
    return _review_action(request, session, actor, entry_id,
                          lambda: catalog.return_entry(session, actor, entry_id, reason.strip()), "returned")
