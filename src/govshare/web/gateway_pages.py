"""数据源 pages: the provider connects its published entries to the data it already has (a database table, an
uploaded file, an upstream API), reads the profile and the load report, and confirms the suggested grades.
Thin handlers: every rule is in gateway.connect; the pages read forms and show results."""

from __future__ import annotations

import json
import re

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from govshare.authz import Actor
from govshare.catalog.models import CatalogEntry
from govshare.catalog.vocab import EntryStatus, Grade, PersonalInfo
from govshare.deps import SESSION
from govshare.errors import DomainError, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from govshare.fields import IdPath
from govshare.gateway import connect, connections
from govshare.gateway.masking import parse_rule
from govshare.web.errors import field_errors_of
from govshare.web.pages import PageRoute, _fail, _login_redirect, error_page, page_actor, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)

NOTICES = {
    "connected": "数据源已接入，已完成数据画像。请核对识别结果并确认分级建议。",
    "confirmed": "分级和个人信息标识已确认，已记入目录变更记录。",
    "disconnected": "数据源已断开，该目录暂不提供数据。",
}
FORMS = ("sql", "file", "http", "confirm", "disconnect")
REPORT_ROWS = 200  # bad rows shown on the page (the API and the CLI give the report's full list)


async def form_data(request: Request) -> FormData:
    return await request.form()


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def parse_column_map(text: str) -> dict[str, str] | None:
    """`信息项=列名` per line (or `:`, or a JSON object); empty: map by names."""
    text = (text or "").strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise ValidationFailed("列对应关系的 JSON 格式不正确", field="column_map") from None
        if not isinstance(value, dict):
            raise ValidationFailed("列对应关系应为“信息项=列名”，每行一个", field="column_map")
        return {str(k): str(v) for k, v in value.items()}
    mapping = {}
    for line in re.split(r"[\r\n;；]+", text):
        if not line.strip():
            continue
        pair = re.match(r"^\s*([^=:：]+?)\s*[=:：]\s*(.+?)\s*$", line)
        if pair is None:
            raise ValidationFailed(f"列对应关系应为“信息项=列名”，每行一个：{line.strip()}", field="column_map")
        mapping[pair.group(1)] = pair.group(2)
    return mapping


def _can_manage(actor: Actor, entry: CatalogEntry) -> bool:
    return actor.has(*connect.PROVIDER_ROLES) and actor.department_id == entry.provider_id


def _field_errors(error: DomainError | None) -> dict[str, str]:
    return field_errors_of(error)


def _refused(exc: DomainError) -> bool:
    return isinstance(exc, Forbidden | NotFound | NotAuthenticated)


# ---------------------------------------------------------------- 数据源 list


@router.get("/sources", response_class=HTMLResponse)
def source_list(request: Request, session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect("/sources")
    provider = actor.has(*connect.PROVIDER_ROLES)
    own = connect.provider_entries(session, actor) if provider else []
    others = [connect.source_view(session, s) for s in connect.list_sources(session, actor)
              if not provider or s.entry.provider_id != actor.department_id]
    return render(request, session, actor, "source_list.html", own=[
        {"entry": entry, "source": connect.source_view(session, source) if source else None} for entry, source in own],
        others=others, provider=provider)


# ---------------------------------------------------------------- one entry's source


def _entry(session: Session, actor: Actor, entry_id: int) -> tuple[CatalogEntry, object | None]:
    """The entry and its source, if the actor may see them: the provider's managers and reviewers see their
    published entries whether connected or not; everyone else only readable sources."""
    entry = session.get(CatalogEntry, entry_id)
    if entry is not None and _can_manage(actor, entry) and entry.status == EntryStatus.PUBLISHED:
        try:
            return entry, connect.get_source(session, actor, entry_id)
        except NotFound:
            return entry, None
    source = connect.get_source(session, actor, entry_id)
    return source.entry, source


def _detail(request, session, actor, entry_id: int, *, notice=None, error: DomainError | None = None,
            form_name: str = "", typed: dict | None = None):
    try:
        entry, source = _entry(session, actor, entry_id)
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    view = connect.source_view(session, source) if source is not None else None
    if view is not None:
        for item in view["items"]:
            item["masking_label"] = parse_rule(item["suggested_masking"]).label if item["suggested_masking"] else ""
        report = view["load_report"]
        report["shown_rows"] = (report.get("bad_rows") or [])[:REPORT_ROWS]
    forms = {name: {} for name in FORMS}
    if form_name:
        forms[form_name] = typed or {}
    items = sorted(entry.items, key=lambda i: i.position)
    return render(request, session, actor, "source_detail.html", status_code=error.status_code if error else 200,
                  entry=entry, items=items, s=view, can_manage=_can_manage(actor, entry), forms=forms,
                  form_name=form_name, field_errors=_field_errors(error) if form_name else {},
                  form_error=error.message if error and form_name else None,
                  error=error.message if error and not form_name else None, notice=notice,
                  GRADES=Grade.labels(), PERSONAL_INFO=PersonalInfo.labels(),
                  connections=_own_connections(session, actor, entry),
                  own_department=actor.department_id == entry.provider_id)


def _own_connections(session: Session, actor: Actor, entry: CatalogEntry) -> dict[str, list]:
    """The provider department's active connections by kind: what the connect forms offer to choose."""
    if not _can_manage(actor, entry):
        return {"sql": [], "http": []}
    mine = [c for c in connections.visible(session, actor) if c.department_id == entry.provider_id
            and c.retired_at is None]
    return {kind: [connections.view(session, c) for c in mine if c.kind == kind] for kind in ("sql", "http")}


@router.get("/sources/{entry_id}", response_class=HTMLResponse)
def source_detail(request: Request, entry_id: IdPath, notice: str = "", session: Session = SESSION,
                  actor: Actor | None = Depends(page_actor)):
    if actor is None:
        return _login_redirect(f"/sources/{entry_id}")
    return _detail(request, session, actor, entry_id, notice=NOTICES.get(notice))


def _act(request, session, actor, entry_id: int, action, done: str, form_name: str, typed: dict):
    """Runs a service call of a form: commit and redirect with a notice, or roll back and show the page with
    the error at the form (a refusal is an error page)."""
    if actor is None:
        return _login_redirect(f"/sources/{entry_id}")
    try:
        action()
    except DomainError as exc:
        _fail(session)
        if _refused(exc):
            return error_page(request, session, actor, exc)
        return _detail(request, session, actor, entry_id, error=exc, form_name=form_name, typed=typed)
    session.commit()
    return RedirectResponse(f"/sources/{entry_id}?notice={done}", status_code=303)


@router.post("/sources/{entry_id}/sql", response_class=HTMLResponse)
def connect_sql(request: Request, entry_id: IdPath, form: FormData = Depends(form_data), session: Session = SESSION,
                actor: Actor | None = Depends(page_actor)):
    typed = {name: _text(form, name) for name in ("connection", "table", "key_item", "column_map")}
    return _act(request, session, actor, entry_id, lambda: connect.connect_sql(
        session, actor, entry_id, typed["connection"], typed["table"], typed["key_item"],
        parse_column_map(typed["column_map"])), "connected", "sql", typed)


@router.post("/sources/{entry_id}/file", response_class=HTMLResponse)
def connect_file(request: Request, entry_id: IdPath, file: UploadFile | None = File(None), key_item: str = Form(""),
                 column_map: str = Form(""), session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    typed = {"key_item": key_item.strip(), "column_map": column_map}

    def action():
        if file is None or not file.filename:
            if actor is not None:  # who may connect is decided before what is missing
                connect.connectable(session, actor, entry_id)
            raise ValidationFailed("请选择要上传的文件（CSV、XLSX 或 Parquet）", field="file")
        connect.connect_file(session, actor, entry_id, file.file, file.filename, typed["key_item"],
                             parse_column_map(column_map))

    return _act(request, session, actor, entry_id, action, "connected", "file", typed)


@router.post("/sources/{entry_id}/http", response_class=HTMLResponse)
def connect_http(request: Request, entry_id: IdPath, form: FormData = Depends(form_data), session: Session = SESSION,
                 actor: Actor | None = Depends(page_actor)):
    typed = {name: _text(form, name) for name in ("connection", "path", "key_item", "key_param", "column_map",
                                                  "probe_key")}
    return _act(request, session, actor, entry_id, lambda: connect.connect_http(
        session, actor, entry_id, typed["connection"], typed["path"], typed["key_item"], typed["key_param"] or "key",
        parse_column_map(typed["column_map"]), typed["probe_key"] or None), "connected", "http", typed)


@router.post("/sources/{entry_id}/confirm", response_class=HTMLResponse)
def confirm(request: Request, entry_id: IdPath, form: FormData = Depends(form_data), session: Session = SESSION,
            actor: Actor | None = Depends(page_actor)):
    """The table's selects (grade_<item>, pi_<item>) as the provider left them, or every suggestion."""
    accept_all = _text(form, "accept_all") == "1"
    grades: dict[str, dict] = {}
    for key in form:
        for prefix, field in (("grade_", "grade"), ("pi_", "personal_info")):
            if key.startswith(prefix) and _text(form, key):
                grades.setdefault(key[len(prefix):], {})[field] = _text(form, key)
    typed = {"reason": _text(form, "reason")}
    return _act(request, session, actor, entry_id, lambda: connect.confirm_profile(
        session, actor, entry_id, {} if accept_all else grades, accept_all=accept_all, reason=typed["reason"]),
        "confirmed", "confirm", typed)


@router.post("/sources/{entry_id}/disconnect", response_class=HTMLResponse)
def disconnect(request: Request, entry_id: IdPath, form: FormData = Depends(form_data), session: Session = SESSION,
               actor: Actor | None = Depends(page_actor)):
    typed = {"reason": _text(form, "reason")}
    return _act(request, session, actor, entry_id, lambda: connect.disconnect(session, actor, entry_id,
                                                                              typed["reason"]),
                "disconnected", "disconnect", typed)

