"""Pages of the platform administration (系统管理, issue 14): users (create, deactivate and activate, reset a
password, change a role), departments (create, add and remove aliases) and the record of those changes. The
platform administrator changes them; the auditor reads them; nobody else sees them. Thin: every rule is in
orgs.service, which also records each change (AdminEvent) in the same unit of work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from govshare.authz import Actor
from govshare.deps import SESSION
from govshare.errors import DomainError, Forbidden, NotAuthenticated, NotFound, ValidationFailed
from govshare.fields import IdPath, id_from
from govshare.orgs import service as orgs
from govshare.orgs.models import ADMIN_ACTION_LABELS, LEVEL_LABELS, ROLE_LABELS, Role
from govshare.web.gateway_pages import form_data
from govshare.web.pages import PAGE_SIZE, PageRoute, _fail, _login_redirect, error_page, page_actor, render

router = APIRouter(include_in_schema=False, route_class=PageRoute)

USERS = "/admin/users"
DEPARTMENTS = "/admin/departments"
EVENTS = "/admin/events"

USER_FILTERS = ("q", "department", "role", "active", "page")
DEPARTMENT_FILTERS = ("q", "level", "page")
LIST_PREFIX = "list_"  # the hidden fields of a form that carry the list it was posted from (its filters, its page)
USER_FIELDS = ("username", "display_name", "department_id", "role")  # typed values kept on error: never the password
DEPARTMENT_FIELDS = ("name", "level", "region_code", "uscc", "parent_id", "is_competent_authority")

USER_NOTICES = {
    "created": "用户已创建，变更已记入变更记录。",
    "deactivated": "用户已停用，其全部令牌已吊销。",
    "activated": "用户已启用；停用时吊销的令牌不会恢复，该用户须重新登录。",
    "password_reset": "密码已重置，该用户的登录会话已结束，须以新密码登录。",
    "role_changed": "角色已修改，该用户的登录会话已结束，须重新登录。",
}
DEPARTMENT_NOTICES = {
    "created": "部门已创建，变更已记入变更记录。",
    "alias_added": "别名已添加：导入目录时，以该名称提供的行归入该部门。",
    "alias_removed": "别名已删除：已按该别名导入的目录仍属该部门。",
}
ACTIVE_LABELS = {"1": "启用", "0": "已停用"}


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _raw(form: FormData, name: str) -> str:
    """A value as typed (a password is not stripped)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _refusal(request, session: Session, actor: Actor | None, path: str) -> HTMLResponse | RedirectResponse | None:
    """Why the visitor may not read the administration pages (the platform administrator and the auditor may)."""
    if actor is None:
        return _login_redirect(path)
    try:
        orgs.require_admin_reader(actor, action="查看系统管理页面")
    except DomainError as exc:
        return error_page(request, session, actor, exc)
    return None


def _is_refusal(exc: DomainError, fields: tuple[str, ...]) -> bool:
    """A refusal of the action as a whole (an error page), not a value of the form to correct."""
    return isinstance(exc, Forbidden | NotAuthenticated) or (isinstance(exc, NotFound) and exc.field not in fields)


def _page_number(value: str) -> int:
    return id_from(value or "") or 1


def _list_url(path: str, filters: dict[str, str], **extra: str) -> str:
    query = {k: v for k, v in {**filters, **extra}.items() if v}
    return path + ("?" + urlencode(query) if query else "")


def _pages(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


def _messages(problems: list[DomainError]) -> tuple[str, dict[str, str]]:
    """The page's summary of every problem, and each field's own message."""
    fields: dict[str, str] = {}
    for problem in problems:
        fields.setdefault(problem.field or "form", problem.message)
    if len(problems) == 1:
        return problems[0].message, fields
    return f"有 {len(problems)} 处需要修改：" + "；".join(p.message for p in problems), fields


def _change(call: Callable[[], object]) -> Callable[[], list]:
    """An action that reports its one problem by raising it (the services' way)."""

    def run() -> list:
        call()
        return []

    return run


def _pager_urls(path: str, filters: dict[str, str], page: int, pages: int) -> dict[str, str | None]:
    """上一页 / 下一页 of a filtered list (pager.html), None at either end."""
    return {"prev_url": _list_url(path, filters, page=str(page - 1)) if page > 1 else None,
            "next_url": _list_url(path, filters, page=str(page + 1)) if page < pages else None}


def _redirect(url: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(url + (f"#{anchor}" if anchor else ""), status_code=303)


# ---------------------------------------------------------------- 用户管理


def _user_filters(values: dict[str, str]) -> dict[str, str]:
    return {name: (values.get(name) or "").strip() for name in USER_FILTERS}


def _users_page(request, session: Session, actor: Actor, filters: dict[str, str], *, notice: str | None = None,
                problems: list[DomainError] | None = None, form_name: str = "", row: int | None = None,
                typed: dict | None = None):
    """The list of users (filtered, one page), the create form and each row's actions; `problems` of the form
    `form_name` (of the user `row`) are shown at their fields, with what was typed."""
    problems = problems or []
    error, field_errors = _messages(problems) if problems else (None, {})
    try:
        department = id_from(filters["department"]) if filters["department"] else None
        if filters["department"] and department is None:
            raise ValidationFailed(f"部门编号无效：{filters['department']}", field="department")
        if filters["active"] not in ("", "1", "0"):
            raise ValidationFailed("状态只能为 启用 或 已停用", field="active")
        active = {"1": True, "0": False}.get(filters["active"])
        page = _page_number(filters["page"])
        users, total = orgs.search_users(session, actor, department_id=department, role=filters["role"] or None,
                                         active=active, text=filters["q"], limit=PAGE_SIZE,
                                         offset=(page - 1) * PAGE_SIZE)
    except DomainError as exc:  # a filter the list cannot take: the whole list, and why
        problems, error = [*problems, exc], exc.message if not problems else f"{error}；{exc.message}"
        filters = _user_filters({})
        page = 1
        users, total = orgs.search_users(session, actor, limit=PAGE_SIZE)
    pages = _pages(total)
    status = problems[0].status_code if problems else 200
    return render(request, session, actor, "admin_users.html", status_code=status, error=error, notice=notice,
                  users=users, total=total, page=page, pages=pages, filters=filters,
                  **_pager_urls(USERS, filters, page, pages),
                  departments=orgs.list_departments(session), roles=ROLE_LABELS, active_labels=ACTIVE_LABELS,
                  can_manage=actor.has(Role.PLATFORM_ADMIN), field_errors=field_errors, form_name=form_name,
                  row=row, me_id=actor.user_id, row_typed=typed if row else {},
                  form=typed if form_name == "create" and typed else {name: "" for name in USER_FIELDS})


@router.get(USERS, response_class=HTMLResponse)
def users_page(request: Request, notice: str = "", session: Session = SESSION,
               actor: Actor | None = Depends(page_actor)):
    refused = _refusal(request, session, actor, str(request.url.path) + (
        f"?{request.url.query}" if request.url.query else ""))
    if refused:
        return refused
    return _users_page(request, session, actor, _user_filters(dict(request.query_params)),
                       notice=USER_NOTICES.get(notice))


def _user_action(request, session: Session, actor: Actor | None, form: FormData, action: Callable[[], object],
                 done: str, **shown):
    """Runs one change of a user; on success back to the list the form was posted from, with the notice."""
    return _admin_action(request, session, actor, form, action, done, USERS_LIST, **shown)


@router.post(USERS, response_class=HTMLResponse)
def user_create(request: Request, form: FormData = Depends(form_data), session: Session = SESSION,
                actor: Actor | None = Depends(page_actor)):
    typed = {name: _text(form, name) for name in USER_FIELDS}
    values = {"username": typed["username"], "display_name": typed["display_name"], "role": typed["role"],
              "department_id": id_from(typed["department_id"]), "password": _raw(form, "password")}

    def action():
        problems = orgs.user_problems(session, actor, **values)  # every field at once, before anything is stored
        if not problems:
            orgs.create_user(session, actor, **values)
        return problems

    return _user_action(request, session, actor, form, action, "created", form_name="create", typed=typed,
                        fields=(*USER_FIELDS, "password"))


@router.post(USERS + "/{user_id}/deactivate", response_class=HTMLResponse)
def user_deactivate(request: Request, user_id: IdPath, form: FormData = Depends(form_data),
                    session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    return _user_action(request, session, actor, form,
                        _change(lambda: orgs.set_user_active(session, actor, user_id, active=False)),
                        "deactivated", form_name="active", row=user_id)


@router.post(USERS + "/{user_id}/activate", response_class=HTMLResponse)
def user_activate(request: Request, user_id: IdPath, form: FormData = Depends(form_data),
                  session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    return _user_action(request, session, actor, form,
                        _change(lambda: orgs.set_user_active(session, actor, user_id, active=True)),
                        "activated", form_name="active", row=user_id)


@router.post(USERS + "/{user_id}/password", response_class=HTMLResponse)
def user_reset_password(request: Request, user_id: IdPath, form: FormData = Depends(form_data),
                        session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    password = _raw(form, "password")
    return _user_action(request, session, actor, form,
                        _change(lambda: orgs.reset_password(session, actor, user_id, password)),
                        "password_reset", form_name="password", row=user_id, fields=("password",))


@router.post(USERS + "/{user_id}/role", response_class=HTMLResponse)
def user_change_role(request: Request, user_id: IdPath, form: FormData = Depends(form_data),
                     session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    role = _text(form, "role")
    return _user_action(request, session, actor, form,
                        _change(lambda: orgs.change_role(session, actor, user_id, role)),
                        "role_changed", form_name="role", row=user_id, typed={"role": role}, fields=("role",))


# ---------------------------------------------------------------- 部门管理


def _department_filters(values: dict[str, str]) -> dict[str, str]:
    return {name: (values.get(name) or "").strip() for name in DEPARTMENT_FILTERS}


def _departments_page(request, session: Session, actor: Actor, filters: dict[str, str], *,
                      notice: str | None = None, problems: list[DomainError] | None = None, form_name: str = "",
                      row: int | None = None, typed: dict | None = None):
    problems = problems or []
    error, field_errors = _messages(problems) if problems else (None, {})
    try:
        page = _page_number(filters["page"])
        departments, total = orgs.search_departments(session, text=filters["q"], level=filters["level"] or None,
                                                     limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    except DomainError as exc:
        problems, error = [*problems, exc], exc.message if not problems else f"{error}；{exc.message}"
        filters, page = _department_filters({}), 1
        departments, total = orgs.search_departments(session, limit=PAGE_SIZE)
    pages = _pages(total)
    status = problems[0].status_code if problems else 200
    return render(request, session, actor, "admin_departments.html", status_code=status, error=error,
                  notice=notice, departments=departments, total=total, page=page, pages=pages, filters=filters,
                  **_pager_urls(DEPARTMENTS, filters, page, pages),
                  counts=orgs.user_counts(session, [d.id for d in departments]), levels=LEVEL_LABELS,
                  all_departments=orgs.list_departments(session), can_manage=actor.has(Role.PLATFORM_ADMIN),
                  field_errors=field_errors, form_name=form_name, row=row, row_typed=typed if row else {},
                  form=typed if form_name == "create" and typed else {name: "" for name in DEPARTMENT_FIELDS})


@router.get(DEPARTMENTS, response_class=HTMLResponse)
def departments_page(request: Request, notice: str = "", session: Session = SESSION,
                     actor: Actor | None = Depends(page_actor)):
    refused = _refusal(request, session, actor, str(request.url.path) + (
        f"?{request.url.query}" if request.url.query else ""))
    if refused:
        return refused
    return _departments_page(request, session, actor, _department_filters(dict(request.query_params)),
                             notice=DEPARTMENT_NOTICES.get(notice))


def _department_action(request, session: Session, actor: Actor | None, form: FormData,
                       action: Callable[[], object], done: str, **shown):
    return _admin_action(request, session, actor, form, action, done, DEPARTMENTS_LIST, **shown)


@dataclass(frozen=True)
class AdminList:
    """One of the admin's lists: its path, the filter names a form posts back (LIST_PREFIX + name), the page
    function that shows it with a form's problems, and the prefix of a row's anchor."""

    path: str
    filter_names: tuple[str, ...]
    show: Callable
    anchor: str


USERS_LIST = AdminList(USERS, USER_FILTERS, _users_page, "user")
DEPARTMENTS_LIST = AdminList(DEPARTMENTS, DEPARTMENT_FILTERS, _departments_page, "department")


def _admin_action(request, session: Session, actor: Actor | None, form: FormData, action: Callable[[], object],
                  done: str, listed: AdminList, *, form_name: str, row: int | None = None, typed: dict | None = None,
                  fields: tuple[str, ...] = ()):
    """Runs one change; a refusal is the error page, other problems are shown at their fields on the list the
    form was posted from (its filters kept), success goes back to that list with the notice."""
    if actor is None:
        return _login_redirect(listed.path)
    filters = {name: _text(form, LIST_PREFIX + name) for name in listed.filter_names}
    try:
        problems = action() or []
    except DomainError as exc:
        problems = [exc]
    if problems:
        _fail(session)
        if _is_refusal(problems[0], fields):
            return error_page(request, session, actor, problems[0])
        return listed.show(request, session, actor, filters, problems=problems, form_name=form_name, row=row,
                           typed=typed)
    session.commit()
    return _redirect(_list_url(listed.path, filters, notice=done), f"{listed.anchor}-{row}" if row else "")


@router.post(DEPARTMENTS, response_class=HTMLResponse)
def department_create(request: Request, form: FormData = Depends(form_data), session: Session = SESSION,
                      actor: Actor | None = Depends(page_actor)):
    typed = {name: _text(form, name) for name in DEPARTMENT_FIELDS}
    parent = id_from(typed["parent_id"]) if typed["parent_id"] else None
    values = {"name": typed["name"], "level": typed["level"], "region_code": typed["region_code"],
              "uscc_code": typed["uscc"].upper() or None, "parent_id": parent}

    def action():
        if typed["parent_id"] and parent is None:
            return [ValidationFailed(f"上级部门编号无效：{typed['parent_id']}", field="parent_id")]
        problems = orgs.department_problems(session, actor, **values)
        if not problems:
            orgs.create_department(session, actor, **values,
                                   is_competent_authority=typed["is_competent_authority"] == "1")
        return problems

    return _department_action(request, session, actor, form, action, "created", form_name="create", typed=typed,
                              fields=(*DEPARTMENT_FIELDS, "uscc"))


@router.post(DEPARTMENTS + "/{department_id}/aliases", response_class=HTMLResponse)
def department_alias_add(request: Request, department_id: IdPath, form: FormData = Depends(form_data),
                         session: Session = SESSION, actor: Actor | None = Depends(page_actor)):
    alias = _text(form, "alias")
    return _department_action(request, session, actor, form,
                              _change(lambda: orgs.add_alias(session, actor, department_id, alias)), "alias_added",
                              form_name="alias", row=department_id, typed={"alias": alias}, fields=("alias",))


@router.post(DEPARTMENTS + "/{department_id}/aliases/{alias_id}/remove", response_class=HTMLResponse)
def department_alias_remove(request: Request, department_id: IdPath, alias_id: IdPath,
                            form: FormData = Depends(form_data), session: Session = SESSION,
                            actor: Actor | None = Depends(page_actor)):
    return _department_action(request, session, actor, form,
                              _change(lambda: orgs.remove_alias(session, actor, department_id, alias_id)),
                              "alias_removed", form_name="alias_remove", row=department_id)


# ---------------------------------------------------------------- 变更记录


@router.get(EVENTS, response_class=HTMLResponse)
def events_page(request: Request, action: str = "", page: str = "", session: Session = SESSION,
                actor: Actor | None = Depends(page_actor)):
    refused = _refusal(request, session, actor, str(request.url.path) + (
        f"?{request.url.query}" if request.url.query else ""))
    if refused:
        return refused
    filters = {"action": action.strip(), "page": page.strip()}
    error = None
    try:
        number = _page_number(filters["page"])
        events = orgs.list_admin_events(session, actor, action=filters["action"] or None, limit=PAGE_SIZE,
                                        offset=(number - 1) * PAGE_SIZE)
        total = orgs.count_admin_events(session, actor, action=filters["action"] or None)
    except ValidationFailed as exc:
        error, filters, number = exc, {"action": "", "page": ""}, 1
        events = orgs.list_admin_events(session, actor, limit=PAGE_SIZE)
        total = orgs.count_admin_events(session, actor)
    pages = _pages(total)
    return render(request, session, actor, "admin_events.html", status_code=error.status_code if error else 200,
                  error=error.message if error else None, events=events, total=total, page=number, pages=pages,
                  filters=filters, actions=ADMIN_ACTION_LABELS,
                  **_pager_urls(EVENTS, filters, number, pages))
