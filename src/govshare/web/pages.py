"""Chinese UI: server-rendered pages (Jinja2). Every page calls the same services as the API; the login
sets the session cookie that `deps.bearer_token` reads, so pages and API share one authentication."""

from __future__ import annotations

import html
import math
import mimetypes
import re
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.catalog import importer, onesource
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
from govshare.db import utcnow
from govshare.deps import SESSION, SESSION_COOKIE, bearer_token
from govshare.errors import DomainError, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from govshare.orgs import service as orgs
from govshare.orgs.models import LEVEL_LABELS, ROLE_LABELS, Role
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
    "level": {level.value: text for level, text in LEVEL_LABELS.items()},
    "stale": {"true": "已过期", "false": "未过期"},
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
        "is_manager": actor.has(Role.CATALOG_MANAGER),
        "is_reviewer": _is_reviewer(actor),
        "is_admin": actor.has(Role.PLATFORM_ADMIN),
        "can_import": _can_import(actor),
        "can_onesource": _can_onesource(actor),
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
    stale = query.get("stale", "").strip()
    params["stale"] = [stale] if stale else []
    return params


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
    for name, _title in FACETS:
        pairs.extend((name, value) for value in change.get(name, params.get(name, [])))
    if page > 1:
        pairs.append(("page", str(page)))
    return "/catalog" + ("?" + urlencode(pairs) if pairs else "")


def _filter_label(session: Session, name: str, value: str, facet_labels: dict) -> str:
    known = facet_labels.get(name, {}).get(value)
    if known:
        return known
    if name == "department":
        try:
            return orgs.get_department(session, int(value)).name if value.isdigit() else value
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


def _active_filters(session: Session, q: str, params: dict, facet_labels: dict) -> list[dict]:
    active = []
    for name, title in FACETS:
        for value in params[name]:
            active.append({"title": title, "label": _filter_label(session, name, value, facet_labels),
                           "url": catalog_url(q, params, **{name: [v for v in params[name] if v != value]})})
    return active


def find_published(request: Request, session: Session, actor: Actor, *, q: str, params: dict[str, list[str]],
                   page: int) -> dict:
    """One page of published entries matching the query and filters, with the search service's facets, total
    and time. The index ranks them (jieba + BM25, synonyms, lead source first). There is no second path: while
    no index has been built on this node, the page says so and how to build it."""
    filters = search_service.parse_filters(
        department=params["department"], level=params["level"], share_type=params["share_type"],
        format=params["format"], grade=params["grade"], theme=params["theme"], stale=_parse_stale(params["stale"]))
    offset = (page - 1) * PAGE_SIZE
    result = search_service.search(request.app.state.settings.resolved_index_dir, q, filters,
                                   limit=PAGE_SIZE, offset=offset, facets=True)
    now = utcnow()
    if result["notice"] is None:
        rows = []
        for hit in result["hits"]:
            try:
                entry = catalog.get_entry(session, actor, int(hit["id"]))
            except NotFound:  # withdrawn since the index was written
                continue
            rows.append({"entry": entry, "stale": catalog.is_stale(entry, now), "lead": hit["is_lead_source"],
                         "name_html": safe_highlight(hit.get("highlight"), entry.name)})
        return {"rows": rows, "total": result["total"], "took_ms": result["took_ms"], "facets": result["facets"],
                "facet_labels": result["facet_labels"], "indexed": True}
    return {"rows": [], "total": 0, "took_ms": result["took_ms"], "facets": {}, "facet_labels": {},
            "indexed": False}


@router.get("/", response_class=HTMLResponse)
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
    page_number = min(max(int(page), 1), MAX_PAGE) if page.isdigit() else 1
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
        active_filters=_active_filters(session, q, params, found["facet_labels"]),
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
def entry_detail(request: Request, entry_id: int, session: Session = SESSION,
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
    return render(request, session, actor, "entry_detail.html", entry=entry, events=events,
                  stale=catalog.is_stale(entry), one_source=one_source)


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
def my_catalog_submit(request: Request, entry_id: int, session: Session = SESSION,
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
def review_publish(request: Request, entry_id: int, session: Session = SESSION,
                   actor: Actor | None = Depends(page_actor)):
    return _review_action(request, session, actor, entry_id,
                          lambda: catalog.publish_entry(session, actor, entry_id), "published")


@router.post("/review/{entry_id}/return")
def review_return(request: Request, entry_id: int, reason: str = Form(""), session: Session = SESSION,
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
def one_source_name_lead(request: Request, cluster_id: int, department_id: str = Form(""), reason: str = Form(""),
                         session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/one-source")
    try:
        if not department_id.strip().isdigit():
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
