"""Departments, users, passwords and tokens, and the record of the platform administrator's changes to them."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, selectinload
from stdnum.cn import uscc
from stdnum.exceptions import ValidationError as StdnumError

from govshare.authz import Actor, require_role
from govshare.config import settings_of
from govshare.db import utcnow
from govshare.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    ValidationFailed,
    found,
)
from govshare.messages import invalid_value
from govshare.orgs import throttle
from govshare.orgs.models import (
    ADMIN_ACTION_LABELS,
    LEVEL_LABELS,
    ROLE_LABELS,
    AdminAction,
    AdminEvent,
    ApiToken,
    Department,
    DepartmentAlias,
    Level,
    Role,
    User,
)

T = TypeVar("T")

_hasher = PasswordHasher()


def use_password_profile(parameters) -> None:
    """Switch argon2 cost parameters (an argon2.profiles entry); the tests use the cheapest profile."""
    global _hasher
    _hasher = PasswordHasher.from_parameters(parameters)
_REGION_CODE = re.compile(r"^\d{6}$")
# Province-level prefixes of GB/T 2260 region codes.
_PROVINCES = {
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42",
    "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82",
}
MIN_PASSWORD_LENGTH = 8
MAX_USERNAME_CHARS = User.__table__.c.username.type.length
MIN_USERNAME_CHARS = 2
MAX_DISPLAY_NAME_CHARS = User.__table__.c.display_name.type.length
MAX_DEPARTMENT_NAME_CHARS = Department.__table__.c.name.type.length
MAX_SUMMARY_CHARS = AdminEvent.__table__.c.summary.type.length
ROLE_CHOICES = "、".join(f"{role.value}（{label}）" for role, label in ROLE_LABELS.items())


# ---------------------------------------------------------------- the record of administrative changes


def record_admin_change(session: Session, actor: Actor, action: AdminAction | str, target_kind: str,
                        target_id: int, summary: str) -> AdminEvent:
    """Records one change of the platform administrator (R18), in the caller's unit of work: it is committed
    with the change or not at all. `summary` is a readable Chinese sentence; never put a password in it."""
    event = AdminEvent(actor_user_id=actor.user_id, action=AdminAction(action).value, target_kind=target_kind,
                       target_id=target_id, summary=summary[:MAX_SUMMARY_CHARS])
    session.add(event)
    session.flush()
    return event


def require_admin_reader(actor: Actor, *, action: str) -> None:
    """The platform administrator and the auditor read the administration (users, departments, the record of
    changes); the auditor only reads."""
    require_role(actor, Role.PLATFORM_ADMIN, Role.AUDITOR, action=action)


def validate_admin_action(value: str | None) -> str | None:
    """An action to filter the record by (empty: all)."""
    if not value:
        return None
    try:
        return AdminAction(value).value
    except ValueError as exc:
        allowed = "、".join(f"{a.value}（{label}）" for a, label in ADMIN_ACTION_LABELS.items())
        raise ValidationFailed(f"变更类型（action）必须为以下之一：{allowed}；收到：{value}", field="action") from exc


def readable_admin_events(actor: Actor, *, action: str | None = None) -> Select:
    """The record of administrative changes: the platform administrator and the auditor only (403 to others)."""
    require_admin_reader(actor, action="查看管理变更记录")
    query = select(AdminEvent)
    action = validate_admin_action(action)
    if action:
        query = query.where(AdminEvent.action == action)
    return query


def list_admin_events(session: Session, actor: Actor, *, action: str | None = None, limit: int = 100,
                      offset: int = 0) -> list[AdminEvent]:
    """The administrative changes, newest first."""
    query = readable_admin_events(actor, action=action).order_by(AdminEvent.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


def count_admin_events(session: Session, actor: Actor, *, action: str | None = None) -> int:
    query = readable_admin_events(actor, action=action)
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def _checked(problems: list[DomainError], check: Callable[[], T]) -> T | None:
    """The value `check` returns, or None with its error added to `problems` (to report every field at once)."""
    try:
        return check()
    except DomainError as exc:
        problems.append(exc)
        return None


def _plain_text(value: str | None, field: str, title: str, *, required: bool, max_chars: int) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationFailed(f"{title}不能为空", field=field)
    if len(value) > max_chars:
        raise ValidationFailed(f"{title}不能超过{max_chars}个字符（现为{len(value)}个）", field=field)
    if any(ch < " " or ch == "\x7f" for ch in value):
        raise ValidationFailed(f"{title}不能含控制字符", field=field)
    return value


def validate_uscc(value: str) -> str:
    try:
        return uscc.validate(value)
    except StdnumError as exc:
        raise invalid_value(exc, "uscc", "统一社会信用代码", value) from exc


def validate_region_code(value: str) -> str:
    value = (value or "").strip()
    if not _REGION_CODE.match(value) or value[:2] not in _PROVINCES:
        raise ValidationFailed(f"行政区划代码应为6位数字且以有效省级代码开头：{value}", field="region_code")
    return value


def validate_level(value: str) -> str:
    try:
        return Level(value).value
    except ValueError as exc:
        allowed = "/".join(level.value for level in Level)
        raise ValidationFailed(f"层级必须为 {allowed} 之一：{value}", field="level") from exc


def _new_department(session: Session, *, name: str, level: str, region_code: str, uscc_code: str | None,
                    parent_id: int | None, is_competent_authority: bool) -> tuple[Department | None, list[DomainError]]:
    """The department to create, or every reason it cannot be (one per field, then uniqueness)."""
    problems: list[DomainError] = []
    name = _checked(problems, lambda: _plain_text(name, "name", "部门名称", required=True,
                                                  max_chars=MAX_DEPARTMENT_NAME_CHARS))
    level = _checked(problems, lambda: validate_level(level))
    region = _checked(problems, lambda: validate_region_code(region_code))
    code = _checked(problems, lambda: validate_uscc(uscc_code)) if uscc_code else None
    if parent_id is not None and session.get(Department, parent_id) is None:
        problems.append(ValidationFailed(f"上级部门不存在：{parent_id}", field="parent_id"))
    if problems:
        return None, problems
    department = Department(name=name, level=level, region_code=region, uscc=code, parent_id=parent_id,
                            is_competent_authority=is_competent_authority)
    _checked(problems, lambda: _ensure_unique_department(session, department))
    return (None if problems else department), problems


def department_problems(session: Session, actor: Actor, *, name: str, level: str, region_code: str,
                        uscc_code: str | None = None, parent_id: int | None = None) -> list[DomainError]:
    """Every reason `create_department` would refuse these values, one per field (a form shows them at once)."""
    require_role(actor, Role.PLATFORM_ADMIN, action="创建部门")
    return _new_department(session, name=name, level=level, region_code=region_code, uscc_code=uscc_code,
                           parent_id=parent_id, is_competent_authority=False)[1]


def create_department(
    session: Session,
    actor: Actor,
    *,
    name: str,
    level: str,
    region_code: str,
    uscc_code: str | None = None,
    parent_id: int | None = None,
    is_competent_authority: bool = False,
) -> Department:
    require_role(actor, Role.PLATFORM_ADMIN, action="创建部门")
    department, problems = _new_department(session, name=name, level=level, region_code=region_code,
                                           uscc_code=uscc_code, parent_id=parent_id,
                                           is_competent_authority=is_competent_authority)
    if problems:
        raise problems[0]
    session.add(department)
    session.flush()
    authority = "，政务数据共享主管部门" if department.is_competent_authority else ""
    record_admin_change(session, actor, AdminAction.DEPARTMENT_CREATED, "department", department.id,
                        f"创建部门“{department.name}”（{LEVEL_LABELS[Level(department.level)]}，"
                        f"行政区划{department.region_code}{authority}）")
    return department


def _ensure_unique_department(session: Session, department: Department) -> None:
    same_name = select(Department).where(
        Department.name == department.name, Department.region_code == department.region_code
    )
    if session.scalars(same_name).first():
        raise Conflict(f"该行政区划下已有同名部门：{department.name}", field="name")
    alias = _alias_in_region(session, department.name, department.region_code)
    if alias is not None:
        raise Conflict(f"该行政区划下“{department.name}”已是部门“{alias.department.name}”的别名", field="name")
    if department.uscc and session.scalars(select(Department).where(Department.uscc == department.uscc)).first():
        raise Conflict(f"统一社会信用代码已被使用：{department.uscc}", field="uscc")


def find_or_create_department_by_name(
    session: Session, name: str, *, level: str, region_code: str
) -> Department:
    """Imports name providers in free text; one department per (name, region), found by its name or an alias."""
    found = department_named(session, name, region_code)
    if found:
        return found
    department = Department(name=name, level=level, region_code=region_code)
    session.add(department)
    session.flush()
    return department


# ---------------------------------------------------------------- aliases and close names

MAX_ALIAS_CHARS = 200
# The places a department's name starts with: 安徽省, 六安市 裕安区, 金寨县, 内蒙古自治区 … (2–4 characters and the
# kind of the area, one after the other), and a bare 省/市/县/区 standing for the region's own (省统计局).
_PLACE = re.compile(r"[\u4e00-\u9fff]{2,6}?(?:自治区|自治州|自治县|特别行政区)|[\u4e00-\u9fff]{2,4}?[省市州盟县区旗]")
_PLACE_KINDS = "省市州盟县区旗"
_BARE_LEVEL = "省市州县区"
_BRACKETS = re.compile(r"[（(][^）)]*[）)]")
_MIN_CORE_CHARS = 3  # 统计局 and 审计局 are one character apart and not the same office: short names are compared whole


def department_named(session: Session, name: str, region_code: str) -> Department | None:
    """The department of `region_code` called `name`, by its name or by one of its aliases."""
    found = session.scalars(
        select(Department).where(Department.name == name, Department.region_code == region_code)
    ).first()
    if found is not None:
        return found
    alias = _alias_in_region(session, name, region_code)
    return alias.department if alias is not None else None


def _alias_in_region(session: Session, alias: str, region_code: str) -> DepartmentAlias | None:
    return session.scalars(
        select(DepartmentAlias).where(DepartmentAlias.alias == alias, DepartmentAlias.region_code == region_code)
    ).first()


def list_aliases(session: Session, department_id: int) -> list[DepartmentAlias]:
    get_department(session, department_id)
    query = select(DepartmentAlias).where(DepartmentAlias.department_id == department_id)
    return list(session.scalars(query.order_by(DepartmentAlias.alias)))


def add_alias(session: Session, actor: Actor, department_id: int, alias: str) -> DepartmentAlias:
    """Another name of a department (a short or a former name), by which imports find it. Only the platform
    administrator names departments. Unique within the region: no other department of the region has it as
    its name or an alias (409). Adding an alias the department already has changes nothing."""
    require_role(actor, Role.PLATFORM_ADMIN, action="管理部门别名")
    department = get_department(session, department_id)
    alias = (alias or "").strip()
    if not alias:
        raise ValidationFailed("别名不能为空", field="alias")
    if len(alias) > MAX_ALIAS_CHARS:
        raise ValidationFailed(f"别名不能超过{MAX_ALIAS_CHARS}个字符（现为{len(alias)}个）", field="alias")
    if any(ch < " " or ch == "\x7f" for ch in alias):
        raise ValidationFailed("别名不能含控制字符", field="alias")
    if alias == department.name:
        raise ValidationFailed(f"别名与部门名称相同：{alias}", field="alias")
    named = session.scalars(select(Department).where(
        Department.name == alias, Department.region_code == department.region_code)).first()
    if named is not None:
        raise Conflict(f"该行政区划下已有名为“{alias}”的部门（编号{named.id}），不能作为其他部门的别名",
                       field="alias")
    existing = _alias_in_region(session, alias, department.region_code)
    if existing is not None:
        if existing.department_id == department.id:
            return existing
        raise Conflict(f"该行政区划下“{alias}”已是部门“{existing.department.name}”的别名", field="alias")
    added = DepartmentAlias(department_id=department.id, region_code=department.region_code, alias=alias,
                            created_by_id=actor.user_id)
    session.add(added)
    session.flush()
    record_admin_change(session, actor, AdminAction.ALIAS_ADDED, "department", department.id,
                        f"为部门“{department.name}”添加别名“{alias}”")
    return added


def remove_alias(session: Session, actor: Actor, department_id: int, alias_id: int) -> DepartmentAlias:
    """Removes one alias of a department (platform administrator only); an alias of another department is not
    found. Entries imported under the alias stay with the department."""
    require_role(actor, Role.PLATFORM_ADMIN, action="管理部门别名")
    department = get_department(session, department_id)
    alias = session.get(DepartmentAlias, alias_id)
    if alias is None or alias.department_id != department_id:
        raise NotFound(f"该部门没有编号为{alias_id}的别名", field="alias_id")
    session.delete(alias)
    session.flush()
    record_admin_change(session, actor, AdminAction.ALIAS_REMOVED, "department", department.id,
                        f"删除部门“{department.name}”的别名“{alias.alias}”")
    return alias


def find_alias(session: Session, department_id: int, alias: str) -> DepartmentAlias:
    """The alias of a department called `alias` (the command line names aliases, the API numbers them)."""
    get_department(session, department_id)
    found_alias = session.scalars(select(DepartmentAlias).where(
        DepartmentAlias.department_id == department_id, DepartmentAlias.alias == (alias or "").strip())).first()
    return found(found_alias, f"该部门没有别名：{alias}", "alias")


def _parts(name: str) -> tuple[tuple[str, ...], str]:
    """A department's name as (the places it starts with, the rest), without what is in brackets and, when it
    names no place, without a bare 省/市/县/区 in front: 六安市裕安区民政局 → ((六安市, 裕安区), 民政局);
    省统计局 → ((), 统计局)."""
    rest = _BRACKETS.sub("", name).strip()
    places = []
    while (match := _PLACE.match(rest)) and match.end() < len(rest):
        places.append(match.group())
        rest = rest[match.end():]
    if not places and len(rest) > 1 and rest[0] in _BARE_LEVEL:
        rest = rest[1:]
    return tuple(places), rest


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _is_subsequence(short: str, long: str) -> bool:
    rest = iter(long)
    return all(ch in rest for ch in short)


def _rests_close(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    if short == long:
        return True
    if len(short) < _MIN_CORE_CHARS:
        return False
    if long.endswith(short) and long[:-len(short)][-1] in _PLACE_KINDS:
        return True  # 国家税务总局安徽省税务局 and 税务局
    # an abbreviation: 科技厅 of 科学技术厅, 人社局 of 人力资源和社会保障局 (公安局叶集分局 is a unit of its own)
    if (short[0] == long[0] and short[-1] == long[-1] and not long.startswith(short)
            and _is_subsequence(short, long)):
        return True
    return len(short) > _MIN_CORE_CHARS and _edit_distance(short, long) <= 1  # 生态环境局 and 生态环境厅


def names_close(name: str, other: str) -> bool:
    """Whether two department names of one region may name the same office. The places they start with must
    agree, or one of them names none (the region's own is implied: 省统计局 beside 安徽省统计局, while 六安市民政局,
    金寨县民政局 and 六安市裕安区民政局 are three offices). What follows must be equal, or one must abbreviate the
    other (科技厅, 科学技术厅), end it after a place (税务局, 国家税务总局安徽省税务局), or be one character apart
    (生态环境局, 生态环境厅; names of three characters are compared whole: 统计局, 审计局)."""
    if name == other:
        return True
    (places, rest), (other_places, other_rest) = _parts(name), _parts(other)
    if places and other_places and places != other_places:
        return False
    return _rests_close(rest, other_rest)


def close_departments(name: str, departments: list[Department]) -> list[Department]:
    """The departments among `departments` whose name or an alias is close to `name` (names_close)."""
    return [d for d in departments
            if any(names_close(name, known) for known in (d.name, *(a.alias for a in d.aliases)))]


def find_department(session: Session, name_or_id: str, *, region_code: str | None = None) -> Department:
    """A department named on the command line: its id, or its name (or an alias), with `region_code` when
    departments of several regions have that name."""
    text = (name_or_id or "").strip()
    if text.isascii() and text.isdigit():
        return get_department(session, int(text))
    if region_code:
        region = validate_region_code(region_code)
        return found(department_named(session, text, region), f"行政区划{region}下没有部门：{text}", "department")
    named = {d.id: d for d in session.scalars(select(Department).where(Department.name == text))}
    if not named:
        aliased = select(Department).join(DepartmentAlias).where(DepartmentAlias.alias == text)
        named = {d.id: d for d in session.scalars(aliased)}
    if len(named) > 1:
        regions = "、".join(sorted(d.region_code for d in named.values()))
        raise ValidationFailed(f"多个行政区划（{regions}）都有部门“{text}”，请用 --region-code 指定或改用部门编号",
                               field="region_code")
    return found(next(iter(named.values()), None), f"部门不存在：{text}", "department")


def get_department(session: Session, department_id: int) -> Department:
    return found(session.get(Department, department_id), f"部门不存在：{department_id}", "department_id")


def list_departments(session: Session) -> list[Department]:
    query = select(Department).options(selectinload(Department.aliases))
    return list(session.scalars(query.order_by(Department.level, Department.name)))


def _departments_matching(text: str = "", level: str | None = None) -> Select:
    query = select(Department)
    if level:
        query = query.where(Department.level == validate_level(level))
    text = (text or "").strip()
    if text:
        aliased = select(DepartmentAlias.department_id).where(DepartmentAlias.alias.contains(text, autoescape=True))
        query = query.where(or_(Department.name.contains(text, autoescape=True),
                                Department.region_code.contains(text, autoescape=True),
                                Department.uscc.contains(text.upper(), autoescape=True),
                                Department.id.in_(aliased)))
    return query


def search_departments(session: Session, *, text: str = "", level: str | None = None, limit: int = 20,
                       offset: int = 0) -> tuple[list[Department], int]:
    """One page of the departments whose name, alias, region code or credit code contains `text` (and of
    `level`), by level and name, with how many there are."""
    query = _departments_matching(text, level)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.options(selectinload(Department.aliases)).order_by(Department.level, Department.name, Department.id)
    return list(session.scalars(page.limit(limit).offset(offset))), total


def user_counts(session: Session, department_ids: list[int]) -> dict[int, int]:
    """How many users (active or not) each department has."""
    if not department_ids:
        return {}
    query = (select(User.department_id, func.count()).where(User.department_id.in_(department_ids))
             .group_by(User.department_id))
    return {department_id: count for department_id, count in session.execute(query)}


def validate_password(password: str | None) -> str:
    """The rule every password set by the platform administrator follows (creating a user, resetting one)."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(f"密码长度至少{MIN_PASSWORD_LENGTH}位", field="password")
    return password


def validate_role(role: str | None) -> str:
    try:
        return Role(role).value
    except ValueError as exc:
        raise ValidationFailed(f"角色（role）必须为以下之一：{ROLE_CHOICES}；收到：{role or '（空）'}",
                               field="role") from exc


def validate_username(username: str | None) -> str:
    username = _plain_text(username, "username", "用户名", required=True, max_chars=MAX_USERNAME_CHARS)
    if len(username) < MIN_USERNAME_CHARS:
        raise ValidationFailed(f"用户名至少{MIN_USERNAME_CHARS}个字符", field="username")
    if any(ch.isspace() for ch in username):
        raise ValidationFailed("用户名不能含空格", field="username")
    return username


def _user_department(session: Session, department_id: int | None) -> Department:
    if not department_id:
        raise ValidationFailed("请选择用户所属部门", field="department_id")
    return get_department(session, department_id)


def _new_user(session: Session, *, username: str, password: str, role: str, department_id: int | None,
              display_name: str) -> tuple[dict, list[DomainError]]:
    """The checked values of a new user, or every reason it cannot be created (one per field)."""
    problems: list[DomainError] = []
    username = _checked(problems, lambda: validate_username(username))
    display = _checked(problems, lambda: _plain_text(display_name, "display_name", "姓名", required=False,
                                                     max_chars=MAX_DISPLAY_NAME_CHARS))
    role_value = _checked(problems, lambda: validate_role(role))
    _checked(problems, lambda: validate_password(password))
    _checked(problems, lambda: _user_department(session, department_id))
    if username is not None and session.scalars(select(User).where(User.username == username)).first():
        problems.append(Conflict(f"用户名已存在：{username}", field="username"))
    values = {"username": username, "display_name": display or username, "role": role_value,
              "department_id": department_id}
    return values, problems


def user_problems(session: Session, actor: Actor, *, username: str, password: str, role: str,
                  department_id: int | None, display_name: str = "") -> list[DomainError]:
    """Every reason `create_user` would refuse these values, one per field (a form shows them at once)."""
    require_role(actor, Role.PLATFORM_ADMIN, action="创建用户")
    return _new_user(session, username=username, password=password, role=role, department_id=department_id,
                     display_name=display_name)[1]


def create_user(
    session: Session,
    actor: Actor,
    *,
    username: str,
    password: str,
    role: str,
    department_id: int,
    display_name: str = "",
) -> User:
    require_role(actor, Role.PLATFORM_ADMIN, action="创建用户")
    values, problems = _new_user(session, username=username, password=password, role=role,
                                 department_id=department_id, display_name=display_name)
    if problems:
        raise problems[0]
    user = User(**values, password_hash=_hasher.hash(password))
    session.add(user)
    session.flush()
    record_admin_change(session, actor, AdminAction.USER_CREATED, "user", user.id,
                        f"创建用户 {_who(user)}，角色“{ROLE_LABELS[Role(user.role)]}”，部门“{user.department.name}”")
    return user


def _who(user: User) -> str:
    return user.username if user.display_name == user.username else f"{user.username}（{user.display_name}）"


def _revoke_tokens(session: Session, user: User, *, sessions_only: bool) -> int:
    """Revokes the user's live tokens — only its login sessions, or its program tokens too; returns how many."""
    live = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    if sessions_only:
        live = live.where(ApiToken.kind == SESSION_CREDENTIAL)
    now, revoked = utcnow(), 0
    for token in session.scalars(live):
        token.revoked_at = now
        revoked += 1
    return revoked


def reset_password(session: Session, actor: Actor, user_id: int, new_password: str) -> User:
    """The platform administrator sets a new password for a user (who forgot theirs, or whose password may be
    known to others), by the same rule as a new user's. Every login session of the user ends at once, so
    whoever logged in with the old password is logged out; program tokens are not sessions and keep working
    (revoke them one by one, or deactivate the user)."""
    require_role(actor, Role.PLATFORM_ADMIN, action="重置用户密码")
    user = get_user(session, user_id)
    user.password_hash = _hasher.hash(validate_password(new_password))
    ended = _revoke_tokens(session, user, sessions_only=True)
    session.flush()
    record_admin_change(session, actor, AdminAction.PASSWORD_RESET, "user", user.id,
                        f"重置用户 {_who(user)} 的密码，结束其 {ended} 个登录会话")
    return user


def change_role(session: Session, actor: Actor, user_id: int, role: str) -> User:
    """The platform administrator gives a user another role (R18: separate administrator, operator and auditor
    roles). An administrator cannot change their own role: the node could be left without anybody to administer
    it. The user's login sessions end, so that they log in again under the new role; the same role again
    changes nothing."""
    require_role(actor, Role.PLATFORM_ADMIN, action="修改用户角色")
    role_value = validate_role(role)
    user = get_user(session, user_id)
    if user.id == actor.user_id:
        raise Conflict("不能修改自己的角色（否则本节点可能再无平台管理员）：请由另一位平台管理员修改", field="user_id")
    if user.role == role_value:
        return user
    before, user.role = user.role, role_value
    # program tokens too: a token made for one role's work must not carry another role's rights
    revoked = _revoke_tokens(session, user, sessions_only=False)
    session.flush()
    record_admin_change(session, actor, AdminAction.ROLE_CHANGED, "user", user.id,
                        f"将用户 {_who(user)} 的角色由“{ROLE_LABELS.get(before, before)}”改为"
                        f"“{ROLE_LABELS[Role(role_value)]}”，吊销其 {revoked} 个令牌（登录会话与程序令牌）")
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _issue_token(session: Session, user: User, *, kind: str, name: str, hours: int | None) -> str:
    token = f"gs_{secrets.token_urlsafe(32)}"
    expires_at = utcnow() + timedelta(hours=hours) if hours else None
    session.add(ApiToken(user_id=user.id, kind=kind, name=name, token_hash=_token_hash(token),
                         expires_at=expires_at))
    session.flush()
    return token


def login(session: Session, username: str, password: str, *, session_hours: int, address: str = "",
          now: datetime | None = None) -> str:
    """Checks the password and returns a session token (shown once, stored hashed).

    Throttled (orgs.throttle): a username or client `address` (empty: not over HTTP, no per-address rule)
    with too many recent failures is refused (429, LoginThrottled) whatever the password. An unknown user,
    an inactive one and a wrong password get the same answer after the same work (a password hash is
    verified in every case). Every attempt is recorded; a refused one is committed before the error is
    raised, so the caller's rollback of its unit of work (which holds nothing else) does not erase it."""
    now = now or utcnow()
    settings = settings_of(session)
    typed = throttle.normalize_username(username)
    lockout = throttle.lockout(session, typed, address, now, settings)
    if lockout is not None:
        throttle.record(session, typed, address, now, success=False, locked=True)
        session.commit()
        raise lockout.error(now)
    user = session.scalars(select(User).where(User.username == username)).first()
    matches = _password_matches(user.password_hash if user is not None else _dummy_hash(), password)
    if user is None or not matches or not user.is_active:
        throttle.record(session, typed, address, now, success=False)
        session.commit()
        raise NotAuthenticated("用户名或密码错误", field="password")
    throttle.record(session, typed, address, now, success=True)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return _issue_token(session, user, kind="session", name="login", hours=session_hours)


_dummy: tuple[PasswordHasher, str] | None = None


def _dummy_hash() -> str:
    """A hash of the current cost parameters, verified for an unknown user so that the answer takes as long
    as for a known one (it matches no password anybody types: it is the hash of random bytes)."""
    global _dummy
    if _dummy is None or _dummy[0] is not _hasher:
        _dummy = (_hasher, _hasher.hash(secrets.token_urlsafe(32)))
    return _dummy[1]


def _password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


SESSION_CREDENTIAL = "session"


def credential_kind(session: Session, token: str) -> str:
    """The kind of the bearer token a request presented: "session" (a person who logged in with a password)
    or "api" (a program token); "" for a token the node does not know (never None: that means no token)."""
    query = select(ApiToken.kind).where(ApiToken.token_hash == _token_hash(token or ""))
    return session.scalars(query).first() or ""


def create_api_token(
    session: Session, actor: Actor, *, name: str, max_days: int, hours: int | None = None,
    credential: str | None = None,
) -> str:
    """A token for a program acting as the calling user (same role and department).

    Every program token expires (R18): without `hours` it lives `max_days` days (the node's
    GOVSHARE_API_TOKEN_MAX_DAYS, passed in by the caller), and a longer lifetime is refused.

    Only a login session creates program tokens: `credential` is the kind of the bearer token the caller
    presented (`credential_kind`; None: an in-process caller such as the CLI, which presents none). A program
    token asking is refused (403): otherwise a short-lived or leaked program token would mint one of the
    node's maximum lifetime that outlives it and survives its revocation."""
    if actor.user_id is None:
        raise NotAuthenticated("需要以用户身份创建令牌", field="authorization")
    if credential is not None and credential != SESSION_CREDENTIAL:
        raise Forbidden("程序令牌不能创建新令牌：请用户以用户名和密码登录后，用登录会话创建程序令牌",
                        field="authorization")
    max_hours = max_days * 24
    if hours is None:
        hours = max_hours
    elif hours < 1:
        raise ValidationFailed("令牌有效期至少为1小时", field="hours")
    elif hours > max_hours:
        raise ValidationFailed(
            f"令牌有效期不能超过{max_days}天（{max_hours}小时），请求为{hours}小时", field="hours"
        )
    user = session.get(User, actor.user_id)
    return _issue_token(session, user, kind="api", name=name or "api", hours=hours)


def list_tokens(session: Session, actor: Actor, *, user_id: int | None = None) -> list[ApiToken]:
    """The tokens of the calling user, newest first; a platform administrator may name another user."""
    if user_id is None:
        if actor.user_id is None:
            raise ValidationFailed("节点运维须指定用户", field="user_id")
        user_id = actor.user_id
    elif user_id != actor.user_id:
        require_role(actor, Role.PLATFORM_ADMIN, action="查看其他用户的令牌")
        get_user(session, user_id)
    query = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())
    return list(session.scalars(query))


def revoke_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    """Revokes one token at once (R18). Another user's token is reported as not found, except to the
    platform administrator. Revoking twice keeps the first revocation time."""
    token = session.get(ApiToken, token_id)
    if token is None or (
        token.user_id != actor.user_id and not (actor.is_system or actor.has(Role.PLATFORM_ADMIN))
    ):
        raise NotFound(f"令牌不存在：{token_id}", field="token_id")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    session.flush()
    return token


def logout(session: Session, token: str) -> bool:
    """Ends a login session: the token is revoked, so a copy of the cookie no longer works.
    Returns False when the token is not a live session token (program tokens are revoked by id)."""
    found = session.scalars(select(ApiToken).where(ApiToken.token_hash == _token_hash(token or ""))).first()
    if found is not None and found.kind == "session" and found.revoked_at is None:
        found.revoked_at = utcnow()
        session.flush()
        return True
    return False


def get_user(session: Session, user_id: int) -> User:
    return found(session.get(User, user_id), f"用户不存在：{user_id}", "user_id")


def find_user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    return found(user, f"用户不存在：{username}", "username")


def readable_users(actor: Actor) -> Select:
    """The platform administrator and the auditor see every user; anybody else the users of their own
    department."""
    query = select(User)
    if not (actor.is_system or actor.has(Role.PLATFORM_ADMIN, Role.AUDITOR)):
        query = query.where(User.department_id == actor.department_id)
    return query


def list_users(session: Session, actor: Actor) -> list[User]:
    return list(session.scalars(readable_users(actor).order_by(User.department_id, User.username)))


def search_users(session: Session, actor: Actor, *, department_id: int | None = None, role: str | None = None,
                 active: bool | None = None, text: str = "", limit: int = 20,
                 offset: int = 0) -> tuple[list[User], int]:
    """One page of the users the actor may see, of a department, a role, active or not, whose username or name
    contains `text`; with how many there are."""
    query = readable_users(actor)
    if department_id is not None:
        query = query.where(User.department_id == department_id)
    if role:
        query = query.where(User.role == validate_role(role))
    if active is not None:
        query = query.where(User.is_active.is_(active))
    text = (text or "").strip()
    if text:
        query = query.where(or_(func.lower(User.username).contains(text.lower(), autoescape=True),
                                User.display_name.contains(text, autoescape=True)))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(User.department_id, User.username).limit(limit).offset(offset)
    return list(session.scalars(page)), total


def set_user_active(session: Session, actor: Actor, user_id: int, *, active: bool) -> User:
    """Deactivates or reactivates a user at once (R18: real-time granting and revoking).

    A deactivated user can neither log in nor use any token: `authenticate` refuses inactive users, and
    every live token is revoked too, so reactivating the user does not bring old (possibly leaked) tokens
    back: the user logs in again and makes new program tokens."""
    require_role(actor, Role.PLATFORM_ADMIN, action="停用或启用用户")
    user = get_user(session, user_id)
    if not active and user.id == actor.user_id:
        raise Conflict("不能停用自己的账号", field="user_id")
    if user.is_active == active:
        return user
    user.is_active = active
    if active:
        summary = f"启用用户 {_who(user)}"
    else:
        revoked = _revoke_tokens(session, user, sessions_only=False)
        summary = f"停用用户 {_who(user)}，吊销其 {revoked} 个令牌"
    session.flush()
    record_admin_change(session, actor, AdminAction.USER_ACTIVATED if active else AdminAction.USER_DEACTIVATED,
                        "user", user.id, summary)
    return user


def authenticate(session: Session, token: str) -> Actor:
    """Resolves a bearer token to the acting user; refuses unknown, expired and revoked tokens."""
    found = session.scalars(select(ApiToken).where(ApiToken.token_hash == _token_hash(token or ""))).first()
    now = utcnow()
    if found is None or found.revoked_at is not None or (found.expires_at and found.expires_at < now):
        raise NotAuthenticated("令牌无效或已过期", field="authorization")
    if not found.user.is_active:
        raise NotAuthenticated("用户已停用", field="authorization")
    return Actor.from_user(found.user)
