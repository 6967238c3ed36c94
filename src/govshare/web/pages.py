"""Chinese UI: server-rendered pages (Jinja2). Every page calls the same services as the API; the login
sets the session cookie that `deps.bearer_token` reads, so pages and API share one authentication."""

from __future__ import annotations

import html
import math
import mimetypes
import re
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from markupsafe import Markup, escape
from pydantic import ValidationError
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.catalog import importer, onesource
from govshare.catalog import service as catalog
from govshare.catalog.models import CatalogEntry
from govshare.catalog.schemas import EntryIn
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
from govshare.config import get_settings, settings_of
from govshare.db import utcnow
from govshare.deps import (
    CSRF_FIELD,
    CSRF_HEADER,
    READ_METHODS,
    SESSION,
    SESSION_COOKIE,
    bearer_token,
    client_address,
    csrf_token,
    csrf_valid,
    header_token,
)
from govshare.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidFields,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
)
from govshare.fields import IdPath, id_from, is_digits
from govshare.notify import service as notify
from govshare.orgs import service as orgs
from govshare.orgs.models import LEVEL_LABELS, ROLE_LABELS, Role
from govshare.search import service as search_service
from govshare.validation import rule_of
from govshare.web.errors import field_errors_of, title_of
from govshare.workdays import service as workdays

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))


# ---------------------------------------------------------------- CSRF (R18)

CSRF_REFUSED = "请求来源无法确认（缺少或无效的防跨站请求令牌），操作未执行。请刷新页面后重试。"
LOGIN_ORIGIN_REFUSED = "登录请求来自其他网站，已拒绝。请在本平台的登录页面登录。"


def _same_host(request: Request, url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == request.headers.get("host", "").lower()


def _login_origin_ok(request: Request) -> bool:
    """The login form has no session yet: the cookie is SameSite=Lax, and a login posted from another site's
    page (login CSRF) is refused when the browser names that page in Origin or Referer."""
    origin = request.headers.get("origin")
    if origin is not None:
        return _same_host(request, origin)
    referer = request.headers.get("referer")
    return referer is None or _same_host(request, referer)


async def _csrf_refusal(request: Request) -> str | None:
    """Why a page write is refused, or None. Every write of a page form that acts with the session cookie must
    carry the session's token (hidden field csrf_token, or the X-CSRF-Token header). A request authenticated by
    an Authorization header is not a browser acting on its own; without a cookie nothing can be done anyway
    (the page sends the visitor to the login form)."""
    if request.method in READ_METHODS:
        return None
    if request.url.path == "/login":
        return None if _login_origin_ok(request) else LOGIN_ORIGIN_REFUSED
    cookie = request.cookies.get(SESSION_COOKIE)
    if header_token(request) or not cookie:
        return None
    presented = request.headers.get(CSRF_HEADER)
    if not presented:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)  # Starlette keeps the parsed form for the route
            presented = value if isinstance(value, str) else None
    return None if csrf_valid(cookie, presented) else CSRF_REFUSED


class PageRoute(APIRoute):
    """Every page route checks CSRF before its dependencies and body run: a refused request changes nothing."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            refusal = await _csrf_refusal(request)
            if refusal is not None:
                return templates.TemplateResponse(request, "error.html", {
                    "me": None, "path": request.url.path, "error": None, "notice": None,
                    "title": "无权访问", "message": refusal}, status_code=403)
            return await handler(request)

        return checked


router = APIRouter(include_in_schema=False, route_class=PageRoute)

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
    "level": {level.value: text for level, text in LEVEL_LABELS.items()},
    "stale": {"true": "已过期", "false": "未过期"},
    "action": {
        "classification_confirmed": "确认数据分级",
        "created": "创建草稿",
        "updated": "修改",
        "submitted": "提交审核",
        "published": "审核发布",
        "returned": "退回",
        "data_updated": "确认数据已更新",
        "revision_submitted": "提交修订",
        "revision_returned": "修订退回",
        "source_disconnected": "断开数据源",
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


# ---------------------------------------------------------------- times (settings.timezone)

BEIJING_TIME_ZONES = frozenset({"Asia/Shanghai", "Asia/Chongqing", "Asia/Harbin", "PRC"})


def _zone_name(context) -> str:
    request = context.get("request")
    return request.app.state.settings.timezone if request is not None else get_settings().timezone


@pass_context
def localtime(context, moment, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time (naive UTC, db.utcnow) as the node's local time (GOVSHARE_TIMEZONE). Every time a page
    shows goes through this filter, so a page never mixes zones; a calendar date has no zone and is kept."""
    if moment is None:
        return "—"
    if not isinstance(moment, datetime):
        return str(moment)
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(_zone_name(context))).strftime(fmt)


@pass_context
def time_zone_note(context) -> str:
    """The one line of the layout that names the zone of the page's times."""
    name = _zone_name(context)
    return f"时间为{'北京时间' if name in BEIJING_TIME_ZONES else '当地时间'}（{name}）"


templates.env.filters["localtime"] = localtime
templates.env.globals["time_zone_note"] = time_zone_note


@pass_context
def csrf_field(context) -> Markup:
    """<input type="hidden" name="csrf_token"> of the visitor's session, for every form that posts."""
    request = context.get("request")
    token = bearer_token(request) if request is not None else None
    if not token:
        return Markup("")
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, csrf_token(token))


templates.env.globals["csrf_field"] = csrf_field


# ---------------------------------------------------------------- who is looking


def page_actor(request: Request, session: Session = SESSION) -> Actor | None:
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
        "department_id": actor.department_id,
        "is_manager": actor.has(Role.CATALOG_MANAGER),
        "is_reviewer": _is_reviewer(actor),
        "is_admin": actor.has(Role.PLATFORM_ADMIN),
        "can_import": _can_import(actor),
        "can_onesource": _can_onesource(actor),
        "unread": notify.unread_count(session, actor),
    }


def _is_reviewer(actor: Actor) -> bool:
    return actor.has(Role.AUTHORITY_REVIEWER) and actor.is_competent_authority


def _can_import(actor: Actor) -> bool:
    return actor.has(Role.CATALOG_MANAGER, Role.PLATFORM_ADMIN)


def _can_onesource(actor: Actor) -> bool:
    return _is_reviewer(actor) or actor.has(Role.PLATFORM_ADMIN)


def render(request: Request, session: Session, actor: Actor | None, name: str, status_code: int = 200,
           **context) -> HTMLResponse:
    context.setdefault("error", None)
    context.setdefault("notice", None)
    return templates.TemplateResponse(request, name, {"me": _me(session, actor), "path": request.url.path,
                                                       **context}, status_code=status_code)


def error_page(request: Request, session: Session, actor: Actor | None, exc: DomainError) -> HTMLResponse:
    return render(request, session, actor, "error.html", status_code=exc.status_code,
                  title=title_of(exc.status_code), message=exc.message)


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


@router.get("/static/{name:path}")
def static_file(name: str) -> Response:
    """Files of web/static and its folders (vendored libraries in static/vendor), never outside it."""
    path = (STATIC_DIR / name).resolve()
    if STATIC_DIR.resolve() not in path.parents or not path.is_file():
        return Response("文件不存在", status_code=404, media_type="text/plain; charset=utf-8")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})


@router.get("/favicon.ico")
def favicon() -> Response:
    """The site's icon (the layout names it; browsers also ask for it here on their own)."""
    return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/x-icon",
                        headers={"Cache-Control": "public, max-age=86400"})


# ---------------------------------------------------------------- login


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", session: Session = SESSION,
               actor: Actor | None = Depends(page_actor)):
    return render(request, session, actor, "login.html", next=_safe_next(next), username="")


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
    session: Session = SESSION,
):
    hours = request.app.state.settings.session_hours
    try:
        token = orgs.login(session, username.strip(), password, session_hours=hours, address=client_address(request))
    except DomainError as exc:
        _fail(session)
        return render(request, session, None, "login.html", status_code=exc.status_code, error=exc.message,
                      next=_safe_next(next), username=username)
    session.commit()
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=hours * 3600, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return response


@router.post("/logout")
def logout(request: Request, session: Session = SESSION):
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        orgs.logout(session, token)
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# ---------------------------------------------------------------- catalog search (目录检索)

# (filter name, sidebar title), in the order of the sidebar; every filter of search.service.parse_filters
FACETS = (("department", "提供部门"), ("level", "层级"), ("share_type", "共享类型"), ("format", "数据格式"),
          ("grade", "分级"), ("theme", "主题"), ("stale", "更新状态"))
LIST_FILTERS = ("department", "level", "share_type", "format", "grade", "theme")
VIEW_PARAMS = ("quality", "order")  # the quality floor and the order of the results (R14)
QUALITY_FLOORS = ("95", "80", "60")
ORDER_LABELS = {"relevance": "相关度", "quality": "质量得分"}
FILTER_LABEL_KINDS = {"share_type": "share_type", "format": "data_format", "grade": "grade", "level": "level",
                      "stale": "stale"}
FACET_VISIBLE = 8  # values shown before "更多"
MAX_PAGE = search_service.MAX_OFFSET // PAGE_SIZE + 1
_EM_TAG = re.compile(r"(</?em>)")


def safe_highlight(marked: str | None, name: str) -> Markup:
    """The entry name with the matched words in <em>. The highlighter's markup is taken apart: every piece of
    text is unescaped and escaped again, only the <em> pairs are kept as markup, and the pieces must spell
    the name exactly; otherwise the plain escaped name is shown. Injected HTML in a name stays text."""
    if not marked:
        return escape(name)
    out, plain, open_ = [], [], False
    for piece in _EM_TAG.split(marked):
        if piece in ("<em>", "</em>"):
            if (piece == "<em>") == open_:
                return escape(name)
            open_ = not open_
            out.append(Markup(piece))
        elif piece:
            text = html.unescape(piece)
            plain.append(text)
            out.append(escape(text))
    if open_ or "".join(plain) != name:
        return escape(name)
    return Markup("").join(out)


def _search_params(request: Request) -> dict[str, list[str]]:
    """The filters of the page's URL: several values of one field are allowed (any of them matches)."""
    query = request.query_params
    params = {name: list(dict.fromkeys(v.strip() for v in query.getlist(name) if v.strip()))
              for name in LIST_FILTERS}
    legacy = query.get("provider_id", "").strip()  # older links and bookmarks
    if legacy and not params["department"]:
        params["department"] = [legacy]
    for name in ("stale", *VIEW_PARAMS):
        value = query.get(name, "").strip()
        params[name] = [value] if value else []
    return params


def _parse_quality(values: list[str]) -> float | None:
    if not values:
        return None
    try:
        return float(values[0])
    except ValueError:
        raise ValidationFailed(f"质量得分下限应为 0 到 100 之间的数：{values[0][:20]}", field="quality") from None


def _parse_stale(values: list[str]) -> bool | None:
    if not values:
        return None
    value = values[0].lower()
    if value in ("true", "1", "是", "已过期"):
        return True
    if value in ("false", "0", "否", "未过期"):
        return False
    raise ValidationFailed(f"更新状态取值无效：{values[0]}；可选：true（已过期）、false（未过期）", field="stale")


def catalog_url(q: str, params: dict[str, list[str]], page: int = 1, **change: list[str]) -> str:
    """/catalog with the query, the filters (`change` replaces a field's values) and the page."""
    pairs: list[tuple[str, str]] = [("q", q)] if q else []
    for name in (*(name for name, _title in FACETS), *VIEW_PARAMS):
        pairs.extend((name, value) for value in change.get(name, params.get(name, [])))
    if page > 1:
        pairs.append(("page", str(page)))
    return "/catalog" + ("?" + urlencode(pairs) if pairs else "")


def _filter_label(session: Session, name: str, value: str, facet_labels: dict) -> str:
    known = facet_labels.get(name, {}).get(value)
    if known:
        return known
    if name == "department":
        department_id = id_from(value)
        try:
            return orgs.get_department(session, department_id).name if department_id else value
        except NotFound:
            return value
    kind = FILTER_LABEL_KINDS.get(name)
    return label(value, kind) if kind else value


def _facet_view(session: Session, q: str, params: dict, facets: dict, facet_labels: dict) -> list[dict]:
    """Sidebar groups: each value with its count and the link that applies (or, when active, removes) it."""
    groups = []
    for name, title in FACETS:
        counts = facets.get(name, {})
        values = []
        for value, count in sorted(counts.items(), key=lambda vc: (-vc[1], vc[0])):
            if count <= 0:
                continue
            active = value in params[name]
            values.append({
                "value": value, "count": count, "active": active,
                "label": _filter_label(session, name, value, facet_labels),
                "url": catalog_url(q, params, **{name: [v for v in params[name] if v != value] if active else [value]}),
            })
        groups.append({"name": name, "title": title, "values": values[:FACET_VISIBLE],
                       "more": values[FACET_VISIBLE:]})
    return groups


def _quality_view(q: str, params: dict) -> dict:
    """The quality floor and the order, each value with the link that applies it (R14)."""
    floor, order = (params.get("quality") or [""])[0], (params.get("order") or ["relevance"])[0]
    return {
        "floors": [{"label": f"{value} 分以上", "active": value == floor,
                    "url": catalog_url(q, params, quality=[value])} for value in QUALITY_FLOORS],
        "orders": [{"label": text, "active": key == order,
                    "url": catalog_url(q, params, order=[] if key == "relevance" else [key])}
                   for key, text in ORDER_LABELS.items()],
    }


def _active_filters(session: Session, q: str, params: dict, facet_labels: dict) -> list[dict]:
    active = []
    if params.get("quality"):
        active.append({"title": "数据质量", "label": f"{params['quality'][0]} 分以上",
                       "url": catalog_url(q, params, quality=[])})
    for name, title in FACETS:
        for value in params[name]:
            active.append({"title": title, "label": _filter_label(session, name, value, facet_labels),
                           "url": catalog_url(q, params, **{name: [v for v in params[name] if v != value]})})
    return active


def _readable_by_id(session: Session, actor: Actor, ids: list[int]) -> dict[int, CatalogEntry]:
    """The hits' entries the visitor may read, in one query (an entry withdrawn since the index was written is
    missing)."""
    return {e.id: e for e in session.scalars(catalog.readable_entries(actor).where(CatalogEntry.id.in_(ids)))}


def find_published(request: Request, session: Session, actor: Actor, *, q: str, params: dict[str, list[str]],
                   page: int) -> dict:
    """One page of published entries matching the query and filters, with the search service's facets, total
    and time. The index ranks them (jieba + BM25, synonyms, lead source first). There is no second path: while
    no index has been built on this node, the page says so and how to build it."""
    filters = search_service.parse_filters(
        department=params["department"], level=params["level"], share_type=params["share_type"],
        format=params["format"], grade=params["grade"], theme=params["theme"], stale=_parse_stale(params["stale"]),
        quality_min=_parse_quality(params["quality"]))
    offset = (page - 1) * PAGE_SIZE
    result = search_service.search(request.app.state.settings.resolved_index_dir, q, filters,
                                   limit=PAGE_SIZE, offset=offset, facets=True,
                                   order=(params["order"] or ["relevance"])[0])
    now = utcnow()
    if result["notice"] is None:
        entries = _readable_by_id(session, actor, [int(hit["id"]) for hit in result["hits"]])
        rows = [{"entry": entry, "stale": catalog.is_stale(entry, now), "lead": hit["is_lead_source"],
                 "name_html": safe_highlight(hit.get("highlight"), entry.name), "quality": hit.get("quality")}
                for hit in result["hits"] if (entry := entries.get(int(hit["id"]))) is not None]
        return {"rows": rows, "total": result["total"], "took_ms": result["took_ms"], "facets": result["facets"],
                "facet_labels": result["facet_labels"], "indexed": True}
    return {"rows": [], "total": 0, "took_ms": result["took_ms"], "facets": {}, "facet_labels": {},
            "indexed": False}


@router.get("/catalog", response_class=HTMLResponse)
def catalog_search(
    request: Request,
    q: str = "",
    page: str = "1",
    session: Session = SESSION,
    actor: Actor | None = Depends(page_actor),
):
    if actor is None:
        return _login_redirect(str(request.url.path))
    q = q.strip()[:200]
    params = _search_params(request)
    page_number = min(max(int(page), 1), MAX_PAGE) if is_digits(page) and len(page) < 10 else 1
    status_code, error = 200, None
    try:
        found = find_published(request, session, actor, q=q, params=params, page=page_number)
    except DomainError as exc:
        status_code, error = exc.status_code, exc.message
        found = {"rows": [], "total": 0, "took_ms": 0, "facets": {}, "facet_labels": {}, "indexed": True}
    pages = max(1, min(math.ceil(found["total"] / PAGE_SIZE), MAX_PAGE))
    return render(
        request, session, actor, "catalog_list.html", status_code=status_code, error=error, q=q, params=params,
        rows=found["rows"], total=found["total"], took_ms=found["took_ms"], indexed=found["indexed"],
        facet_groups=_facet_view(session, q, params, found["facets"], found["facet_labels"]),
        active_filters=_active_filters(session, q, params, found["facet_labels"]), quality=_quality_view(q, params),
        clear_url=catalog_url(q, {}), page=page_number, pages=pages,
        prev_url=catalog_url(q, params, page_number - 1) if page_number > 1 else None,
        next_url=catalog_url(q, params, page_number + 1) if page_number < pages else None,
    )


# ---------------------------------------------------------------- catalog import (目录导入)


def _import_refused(request, session, actor):
    return error_page(request, session, actor, Forbidden("目录导入仅供部门目录管理员和平台管理员使用"))


@router.get("/catalog/import", response_class=HTMLResponse)
def import_form(request: Request, session: Session = SESSION,
                actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/catalog/import")
    if not _can_import(actor):
        return _import_refused(request, session, actor)
    return render(request, session, actor, "catalog_import.html", report=None, form={})


def _read_text(upload: UploadFile, field: str) -> str:
    try:
        return upload.file.read().decode("utf-8-sig").strip()
    except UnicodeDecodeError:
        raise ValidationFailed("映射文件应为 UTF-8 编码的 JSON", field=field) from None


def _uploaded(upload: UploadFile | None) -> bool:
    return upload is not None and bool(upload.filename)


@router.post("/catalog/import", response_class=HTMLResponse)
def import_submit(
    request: Request,
    file: UploadFile | None = File(None),
    items: UploadFile | None = File(None),
    mapping_file: UploadFile | None = File(None),
    mapping: str = Form(""),
    region_code: str = Form(""),
    level: str = Form(""),
    default_provider: str = Form(""),
    session: Session = SESSION,
    actor: Actor | None = Depends(page_actor),
):
    """The same service call as POST /api/v1/catalog/import (importer.import_upload → import_file)."""
    if actor is None:
        return _login_redirect("/catalog/import")
    if not _can_import(actor):
        return _import_refused(request, session, actor)
    form = {"mapping": mapping, "region_code": region_code, "level": level, "default_provider": default_provider}
    try:
        if not _uploaded(file):
            raise ValidationFailed("请选择要导入的目录文件（.xlsx、.csv 或 .json）", field="file")
        mapping_text = mapping.strip()
        if _uploaded(mapping_file):
            mapping_text = _read_text(mapping_file, "mapping") or mapping_text
        has_items = _uploaded(items)
        report = importer.import_upload(
            session, actor, file.filename, file.file, items_name=items.filename if has_items else None,
            items_stream=items.file if has_items else None, mapping_json=mapping_text or None,
            region_code=region_code.strip() or None, level=level.strip() or None,
            default_provider=default_provider.strip() or None)
    except DomainError as exc:
        _fail(session)
        return render(request, session, actor, "catalog_import.html", status_code=exc.status_code,
                      error=exc.message, report=None, form=form)
    session.commit()
    return render(request, session, actor, "catalog_import.html", report=report.to_dict(),
                  rejected_rows=report.rejected_rows, form=form,
                  notice=f"导入完成：新建 {report.created} 条目录草稿。" if report.created else None)


# ---------------------------------------------------------------- catalog detail


@router.get("/catalog/{entry_id}", response_class=HTMLResponse)
def entry_detail(request: Request, entry_id: IdPath, session: Session = SESSION,
                 actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(f"/catalog/{entry_id}")
    try:
        entry = catalog.get_entry(session, actor, entry_id)
        events = catalog.history(session, actor, entry_id)
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    item_ids = {item.id for item in entry.items}
    one_source = {}  # data item id -> its 一数一源 cluster (R06)
    for cluster in onesource.list_clusters(session, actor, department_id=entry.provider_id):
        for member in cluster.members:
            if member.data_item_id in item_ids:
                one_source[member.data_item_id] = {
                    "label": cluster.label,
                    "departments": len({m.department_id for m in cluster.members}),
                    "lead": cluster.lead_department.name if cluster.lead_department else None,
                    "own_lead": cluster.lead_department_id == entry.provider_id,
                }
    today = workdays.local_today(session)
    revisions = [catalog.revision_out(session, r, today) for r in catalog.list_revisions(session, actor, entry_id)]
    from govshare.quality import service as quality

    runs = quality.list_runs(session, actor, entry_id, limit=5)
    return render(request, session, actor, "entry_detail.html", entry=entry, events=events,
                  stale=catalog.is_stale(entry), one_source=one_source, revisions=revisions,
                  quality_last=next((r for r in runs if r.status == "done"), None))


# ---------------------------------------------------------------- my catalog (catalog managers)


@router.get("/my/catalog", response_class=HTMLResponse)
def my_catalog(request: Request, notice: str = "", session: Session = SESSION,
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
def my_catalog_submit(request: Request, entry_id: IdPath, session: Session = SESSION,
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


@router.get("/review", response_class=HTMLResponse)
def review_queue(request: Request, notice: str = "", session: Session = SESSION,
                 actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/review")
    if not _is_reviewer(actor):
        return error_page(request, session, actor, Forbidden("审核队列仅供主管部门审核员使用"))
    return _review_page(request, session, actor, notice=_notice(notice))


def _review_page(request, session, actor, *, error=None, notice=None, status_code=200, error_entry=None,
                 error_revision=None):
    entries = catalog.list_entries(session, actor, status=EntryStatus.SUBMITTED.value, limit=500)
    return render(request, session, actor, "review.html", status_code=status_code, entries=entries,
                  revisions=pending_revisions(session, actor), error=error, notice=notice, error_entry=error_entry,
                  error_revision=error_revision)


def _review_action(request, session, actor, target_id: int, action, done: str):
    if actor is None:
        return _login_redirect("/review")
    try:
        action()
    except DomainError as exc:
        _fail(session)
        if not _is_reviewer(actor) or isinstance(exc, NotFound):
            return error_page(request, session, actor, exc)
        where = {"error_revision": target_id} if done.startswith("revision") else {"error_entry": target_id}
        return _review_page(request, session, actor, error=exc.message, status_code=exc.status_code, **where)
    session.commit()
    return RedirectResponse(f"/review?notice={done}", status_code=303)


@router.post("/review/{entry_id}/publish")
def review_publish(request: Request, entry_id: IdPath, session: Session = SESSION,
                   actor: Actor | None = Depends(page_actor)):
    return _review_action(request, session, actor, entry_id,
                          lambda: catalog.publish_entry(session, actor, entry_id), "published")


@router.post("/review/{entry_id}/return")
def review_return(request: Request, entry_id: IdPath, reason: str = Form(""), session: Session = SESSION,
                  actor: Actor | None = Depends(page_actor)):
    return _review_action(request, session, actor, entry_id,
                          lambda: catalog.return_entry(session, actor, entry_id, reason.strip()), "returned")


# ---------------------------------------------------------------- 一数一源 (competent authority, R06)


ONE_SOURCE_NOTICES = {"lead_named": "已认定牵头数源部门。"}


@router.get("/one-source", response_class=HTMLResponse)
def one_source_page(request: Request, notice: str = "", session: Session = SESSION,
                    actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/one-source")
    if not _can_onesource(actor):
        return _one_source_refused(request, session, actor)
    return _one_source_page(request, session, actor, notice=ONE_SOURCE_NOTICES.get(notice))


def _one_source_refused(request, session, actor):
    return error_page(request, session, actor, Forbidden("一数一源仅供主管部门审核员和平台管理员使用"))


def _one_source_page(request, session, actor, *, error=None, notice=None, status_code=200, error_cluster=None,
                     detection=None, form=None):
    """The cluster list; an error of one cluster's form is shown in that cluster, with what was entered."""
    clusters = []
    for cluster in onesource.list_clusters(session, actor):
        view = onesource.cluster_view(cluster)
        departments = {m["department_id"]: m["department_name"] for m in view["members"]}
        regions = {m.data_item.entry.provider.region_code for m in cluster.members}
        # only a hint for the page: the service decides (name_lead_source checks the area again)
        view["can_name"] = _is_reviewer(actor) and all(actor.covers_region(r) for r in regions)
        view["departments"] = sorted(departments.items(), key=lambda d: d[1])
        clusters.append(view)
    cluster_error = error if error_cluster is not None else None
    return render(request, session, actor, "one_source.html", status_code=status_code, clusters=clusters,
                  error=None if cluster_error else error, notice=notice, error_cluster=error_cluster,
                  cluster_error=cluster_error, detection=detection, is_reviewer=_is_reviewer(actor), form=form or {})


@router.post("/one-source/detect", response_class=HTMLResponse)
def one_source_detect(request: Request, session: Session = SESSION,
                      actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/one-source")
    try:
        result = onesource.detect_clusters(session, actor)
    except DomainError as exc:
        _fail(session)
        if not _can_onesource(actor):
            return error_page(request, session, actor, exc)
        return _one_source_page(request, session, actor, error=exc.message, status_code=exc.status_code)
    session.commit()
    notice = (f"检测完成：共 {result.clusters} 个一数一源数据项，新增 {result.created} 个，移除 {result.removed} 个，"
              f"保留牵头认定 {result.leads_kept} 个。")
    if result.leads_cleared:
        notice += f"以下数据项的牵头数源部门已不再采集该数据项，认定已清除：{'、'.join(result.leads_cleared)}。"
    return _one_source_page(request, session, actor, notice=notice)


@router.post("/one-source/{cluster_id}/lead")
def one_source_name_lead(request: Request, cluster_id: IdPath, department_id: str = Form(""), reason: str = Form(""),
                         session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/one-source")
    try:
        if id_from(department_id) is None:
            if not _can_onesource(actor):
                raise Forbidden("一数一源仅供主管部门审核员和平台管理员使用")
            raise ValidationFailed("请选择牵头数源部门", field="department_id")
        onesource.name_lead_source(session, actor, cluster_id, int(department_id), reason)
    except DomainError as exc:
        _fail(session)
        if not _can_onesource(actor) or isinstance(exc, NotFound):
            return error_page(request, session, actor, exc)
        return _one_source_page(request, session, actor, error=exc.message, status_code=exc.status_code,
                                error_cluster=cluster_id, form={"department_id": department_id, "reason": reason})
    session.commit()
    return RedirectResponse(f"/one-source?notice=lead_named#cluster-{cluster_id}", status_code=303)


# ---------------------------------------------------------------- compiling entries (R02, R03: 新建、编辑、修订)

ENTRY_TEXT_FIELDS = ("classification_code", "name", "abstract", "data_format", "share_type", "share_condition",
                     "share_method", "legal_basis", "open_attribute", "open_condition", "update_cycle",
                     "publish_date", "related_codes", "source_system", "grade", "theme", "tags", "source_url",
                     "secrecy")
ITEM_FIELDS = ("name", "chinese_name", "data_type", "length", "grade", "personal_info", "description")
EXTRA_ITEM_ROWS = 3  # empty rows for 添加信息项 (no JavaScript); empty rows are ignored
MAX_ITEM_ROWS = 500
FIELD_TITLES = {
    "classification_code": "分类代码", "name": "资源名称", "abstract": "资源摘要", "data_format": "资源格式",
    "share_type": "共享类型", "share_condition": "共享条件", "share_method": "共享方式", "legal_basis": "不予共享依据",
    "open_attribute": "开放属性", "open_condition": "开放条件", "update_cycle": "更新周期", "publish_date": "发布日期",
    "related_codes": "关联资源代码", "source_system": "来源系统", "grade": "分级", "theme": "主题",
    "tags": "标签", "source_url": "来源页面", "secrecy": "涉密情况", "items": "信息项", "reason": "修订原因",
}
ITEM_TITLES = {"name": "字段名", "chinese_name": "信息项名称", "data_type": "数据类型", "length": "长度",
               "grade": "分级", "personal_info": "个人信息", "description": "说明"}
NOTICES.update({"created": "目录草稿已保存。", "updated": "目录草稿已修改。",
                "revision_submitted": "修订已提交，等待主管部门审核。",
                "revision_approved": "修订已发布，目录版本已更新。", "revision_returned": "修订已退回。"})


async def posted_form(request: Request) -> dict[str, str]:
    """The posted form as {name: text} (the entry form's item rows have numbered names)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _item_rows(form: dict[str, str]) -> list[dict[str, str]]:
    rows = []
    for index in range(MAX_ITEM_ROWS):
        if not any(f"item-{index}-{f}" in form for f in ITEM_FIELDS):
            break
        rows.append({f: form.get(f"item-{index}-{f}", "").strip() for f in ITEM_FIELDS})
    return rows


def _filled(row: dict[str, str]) -> bool:
    return any(row[f] for f in ("name", "chinese_name", "length", "description"))


def _typed(form: dict[str, str]) -> dict:
    """What the user typed, to show again: every field as text, the item rows in order."""
    typed = {f: form.get(f, "").strip() for f in ENTRY_TEXT_FIELDS}
    typed["items"] = _item_rows(form)
    return typed


def _pydantic_failure(problem: dict, filled: list[tuple[int, dict]]) -> ValidationFailed:
    """One of pydantic's errors as the form shows it; an item's row is numbered as on the form (`filled` maps
    the rows sent to the form's rows)."""
    loc = [str(p) for p in problem.get("loc", ())]
    rule = rule_of(problem)
    if loc and loc[0] == "items" and len(loc) >= 3:
        sent = int(loc[1]) if loc[1].isdigit() else 0
        row = filled[sent][0] if sent < len(filled) else sent
        return ValidationFailed(f"信息项第 {row + 1} 行：{ITEM_TITLES.get(loc[2], loc[2])}{rule}",
                                field=f"items.{row}.{loc[2]}")
    field = loc[0] if loc else "entry"
    return ValidationFailed(f"{FIELD_TITLES.get(field, field)}{rule}", field=field)


def entry_in(typed: dict):
    """EntryIn of the form; the filled item rows only (a row index maps back to its place in the form)."""
    filled = [(index, row) for index, row in enumerate(typed["items"]) if _filled(row)]
    data = {f: typed[f] for f in ENTRY_TEXT_FIELDS}
    data["publish_date"] = typed["publish_date"] or None
    data["related_codes"] = [c for c in re.split(r"[\s,，、;；]+", typed["related_codes"]) if c]
    data["items"] = [{**{f: row[f] for f in ITEM_FIELDS}, "length": row["length"] or None} for _i, row in filled]
    for field in ("data_format", "share_type", "share_method", "update_cycle"):
        if not data[field]:
            data.pop(field)
    try:
        return EntryIn.model_validate(data)
    except ValidationError as exc:  # every field at once, each next to its field or item row
        errors: dict[str, str] = {}
        for problem in exc.errors():
            failure = _pydantic_failure(problem, filled)
            errors.setdefault(failure.field, failure.message)
        raise InvalidFields(errors) from None


def _typed_from_entry(entry) -> dict:
    snap = catalog.snapshot(entry)
    typed = {f: "" if snap.get(f) is None else str(snap.get(f)) for f in ENTRY_TEXT_FIELDS if f != "related_codes"}
    typed["related_codes"] = " ".join(snap["related_codes"])
    typed["secrecy"] = ""
    typed["items"] = [{f: "" if item.get(f) is None else str(item[f]) for f in ITEM_FIELDS} for item in snap["items"]]
    return typed


def _blank_typed() -> dict:
    typed = {f: "" for f in ENTRY_TEXT_FIELDS}
    typed.update(open_attribute="closed", grade="general_1", items=[])
    return typed


def _entry_form(request, session, actor, *, mode: str, typed: dict, entry=None, error: DomainError | None = None,
                extra: dict | None = None, add_rows: bool = False):
    rows = list(typed["items"])
    while rows and not _filled(rows[-1]) and not add_rows:
        rows.pop()  # the empty rows of the last form; 添加信息项 keeps them and adds more
    rows += [{f: "" for f in ITEM_FIELDS} for _ in range(EXTRA_ITEM_ROWS)]
    field_errors = field_errors_of(error) if error and error.field else {}
    row_errors: dict[int, str] = {}
    for field, message in field_errors.items():
        if field.startswith("items.") and field.count(".") == 2:
            row_errors.setdefault(int(field.split(".")[1]), message)
    titles = {"new": "新建目录", "edit": "编辑目录", "revise": "提出修订"}
    actions = {"new": "/my/catalog/new", "edit": f"/my/catalog/{entry.id}/edit" if entry else "",
               "revise": f"/my/catalog/{entry.id}/revise" if entry else ""}
    return render(request, session, actor, "entry_form.html", status_code=error.status_code if error else 200,
                  error=error.message if error else None, mode=mode, title=titles[mode], action=actions[mode],
                  form=typed, rows=rows, field_errors=field_errors, row_errors=row_errors, entry=entry,
                  extra=extra or {},
                  TITLES=FIELD_TITLES, ITEM_TITLES=ITEM_TITLES)


def _manager_refused(request, session, actor):
    return error_page(request, session, actor, Forbidden("编制目录仅供部门目录管理员使用"))


def _own_entry(session: Session, actor: Actor, entry_id: int):
    """The entry of the manager's own department; another department's entry is not found (as for drafts)."""
    entry = catalog.get_entry(session, actor, entry_id)
    if entry.provider_id != actor.department_id:
        raise NotFound(f"目录不存在或无权查看：{entry_id}", field="entry_id")
    return entry


@router.get("/my/catalog/new", response_class=HTMLResponse)
def entry_new_form(request: Request, session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/my/catalog/new")
    if not actor.has(Role.CATALOG_MANAGER):
        return _manager_refused(request, session, actor)
    return _entry_form(request, session, actor, mode="new", typed=_blank_typed())


@router.post("/my/catalog/new", response_class=HTMLResponse)
def entry_new_submit(request: Request, form: dict = Depends(posted_form), session: Session = SESSION,
                     actor: Actor | None = Depends(page_actor)):
    """The same service call as POST /api/v1/catalog/entries (catalog.create_entry)."""
    if actor is None:
        return _login_redirect("/my/catalog/new")
    if not actor.has(Role.CATALOG_MANAGER):
        return _manager_refused(request, session, actor)
    typed = _typed(form)
    if form.get("add_rows"):  # 添加信息项: the same form with more empty rows, nothing saved
        return _entry_form(request, session, actor, mode="new", typed=typed, add_rows=True)
    try:
        entry = catalog.create_entry(session, actor, entry_in(typed))
    except DomainError as exc:
        _fail(session)
        if isinstance(exc, Forbidden | NotFound):
            return error_page(request, session, actor, exc)
        return _entry_form(request, session, actor, mode="new", typed=typed, error=exc)
    session.commit()
    return RedirectResponse(f"/my/catalog?notice=created#entry-{entry.id}", status_code=303)


def _editable_entry(request, session, actor, entry_id: int, statuses: tuple[str, ...], path: str):
    """(entry, None) or (None, the page to return instead)."""
    if actor is None:
        return None, _login_redirect(path)
    if not actor.has(Role.CATALOG_MANAGER):
        return None, _manager_refused(request, session, actor)
    try:
        entry = _own_entry(session, actor, entry_id)
    except DomainError as exc:
        return None, error_page(request, session, actor, exc)
    if entry.status not in statuses:
        message = ("只有草稿或退回的目录可以编辑；已发布目录请提出修订" if "draft" in statuses
                   else "只有已发布的目录需要通过修订变更；草稿可直接编辑")
        return None, error_page(request, session, actor, Conflict(message, field="status"))
    return entry, None


EDITABLE = (EntryStatus.DRAFT.value, EntryStatus.RETURNED.value)


@router.get("/my/catalog/{entry_id}/edit", response_class=HTMLResponse)
def entry_edit_form(request: Request, entry_id: IdPath, session: Session = SESSION,
                    actor: Actor | None = Depends(page_actor)):
    entry, refused = _editable_entry(request, session, actor, entry_id, EDITABLE, f"/my/catalog/{entry_id}/edit")
    if refused:
        return refused
    return _entry_form(request, session, actor, mode="edit", typed=_typed_from_entry(entry), entry=entry)


@router.post("/my/catalog/{entry_id}/edit", response_class=HTMLResponse)
def entry_edit_submit(request: Request, entry_id: IdPath, form: dict = Depends(posted_form),
                      session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    """The same service call as PUT /api/v1/catalog/entries/{id} (catalog.update_entry)."""
    entry, refused = _editable_entry(request, session, actor, entry_id, EDITABLE, f"/my/catalog/{entry_id}/edit")
    if refused:
        _fail(session)
        return refused
    typed = _typed(form)
    typed["classification_code"] = entry.classification_code  # shown read-only: fixed at creation
    if form.get("add_rows"):
        return _entry_form(request, session, actor, mode="edit", typed=typed, entry=entry, add_rows=True)
    try:
        catalog.update_entry(session, actor, entry_id, entry_in(typed))
    except DomainError as exc:
        _fail(session)
        if isinstance(exc, Forbidden | NotFound):
            return error_page(request, session, actor, exc)
        entry = _own_entry(session, actor, entry_id)
        return _entry_form(request, session, actor, mode="edit", typed=typed, entry=entry, error=exc)
    session.commit()
    return RedirectResponse(f"/my/catalog?notice=updated#entry-{entry_id}", status_code=303)


PUBLISHED = (EntryStatus.PUBLISHED.value,)


@router.get("/my/catalog/{entry_id}/revise", response_class=HTMLResponse)
def entry_revise_form(request: Request, entry_id: IdPath, session: Session = SESSION,
                      actor: Actor | None = Depends(page_actor)):
    entry, refused = _editable_entry(request, session, actor, entry_id, PUBLISHED, f"/my/catalog/{entry_id}/revise")
    if refused:
        return refused
    return _entry_form(request, session, actor, mode="revise", typed=_typed_from_entry(entry), entry=entry,
                       extra=_revision_extra(session, {}))


@router.post("/my/catalog/{entry_id}/revise", response_class=HTMLResponse)
def entry_revise_submit(request: Request, entry_id: IdPath, form: dict = Depends(posted_form),
                        session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    """The same service call as POST /api/v1/catalog/entries/{id}/revisions (catalog.propose_revision)."""
    entry, refused = _editable_entry(request, session, actor, entry_id, PUBLISHED, f"/my/catalog/{entry_id}/revise")
    if refused:
        _fail(session)
        return refused
    typed = _typed(form)
    typed["classification_code"] = entry.classification_code
    extra = _revision_extra(session, form)
    if form.get("add_rows"):
        return _entry_form(request, session, actor, mode="revise", typed=typed, entry=entry, extra=extra,
                           add_rows=True)
    try:
        if not extra["reason"]:
            raise ValidationFailed("修订必须说明原因", field="reason")
        catalog.propose_revision(session, actor, entry_id, entry_in(typed), extra["reason"],
                                 due_to_law_change=extra["due_to_law_change"],
                                 law_change_basis=extra["law_change_basis"],
                                 law_effective_date=_effective_date(extra["law_effective_date"]))
    except DomainError as exc:
        _fail(session)
        if isinstance(exc, Forbidden | NotFound):
            return error_page(request, session, actor, exc)
        entry = _own_entry(session, actor, entry_id)
        return _entry_form(request, session, actor, mode="revise", typed=typed, entry=entry, error=exc, extra=extra)
    session.commit()
    return RedirectResponse("/my/catalog?notice=revision_submitted", status_code=303)


def _revision_extra(session: Session, form: dict) -> dict:
    """The revision's own fields of the form, as typed: its reason and, for a change of law or of duties (R05),
    what changed and the date it took effect (and the working days the setting allows, for the hint)."""
    extra = {name: form.get(name, "").strip() for name in ("reason", "law_change_basis", "law_effective_date")}
    extra["due_to_law_change"] = bool(form.get("due_to_law_change"))
    extra["law_change_working_days"] = settings_of(session).law_change_working_days
    return extra


def _effective_date(text: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed("生效日期的格式应为 年-月-日（如 2026-10-01）", field="law_effective_date") from None


# ---------------------------------------------------------------- revisions in the review queue


def pending_revisions(session: Session, actor: Actor) -> list[dict]:
    """Submitted revisions of published entries in the reviewer's area, through the catalog service; those
    with a deadline (a change of law or of duties, R05) first, the earliest due first."""
    pending = []
    today = workdays.local_today(session)
    for revision, entry in catalog.submitted_revisions(session, actor):
        if actor.covers_region(entry.provider.region_code):
            pending.append({"revision": revision, "entry": entry, "changed": _changed_fields(entry, revision),
                            "new_name": revision.payload.get("name", entry.name),
                            "out": catalog.revision_out(session, revision, today)})
    return sorted(pending, key=lambda r: (r["out"]["due_date"] is None, r["out"]["due_date"] or today))


def _changed_fields(entry, revision) -> list[str]:
    """The titles of the fields a revision changes, for the reviewer."""
    now, proposed = catalog.snapshot(entry), revision.payload
    changed = [FIELD_TITLES[f] for f in ENTRY_TEXT_FIELDS if f not in ("secrecy", "publish_date")
               and _snap_value(proposed.get(f)) != _snap_value(now.get(f))]
    if [_item_key(i) for i in proposed.get("items", [])] != [_item_key(i) for i in now["items"]]:
        changed.append("信息项")
    return changed


def _snap_value(value):
    return "" if value is None else value


def _item_key(item: dict) -> tuple:
    return tuple(_snap_value(item.get(f)) for f in ITEM_FIELDS)


@router.post("/review/revisions/{revision_id}/approve")
def review_revision_approve(request: Request, revision_id: IdPath, session: Session = SESSION,
                            actor: Actor | None = Depends(page_actor)):
    return _review_action(request, session, actor, revision_id,
                          lambda: catalog.approve_revision(session, actor, revision_id), "revision_approved")


@router.post("/review/revisions/{revision_id}/return")
def review_revision_return(request: Request, revision_id: IdPath, reason: str = Form(""), session: Session = SESSION,
                           actor: Actor | None = Depends(page_actor)):
    return _review_action(request, session, actor, revision_id,
                          lambda: catalog.return_revision(session, actor, revision_id, reason.strip()),
                          "revision_returned")
