"""Data connections (数据连接; issue 12, R09, R18): where a department's source data may be read from.

The platform admin registers, per department, a database (SQLAlchemy URL) or an upstream API base address,
with the tables or path prefixes the department may use. A department's users then connect an entry to a
table (or a path) of one of their own department's connections: they never type a URL or a file path, so
they cannot point the gateway at the node's own database, at another department's database or at a service
of the server's network.

Rules kept here, in one place:
- the node's own database is recognised by identity (the same file after resolving links; the same server
  and database name), never by a schema or table name, and is refused for every role, at registration and
  when a source is opened for serving;
- a SQLite database file must lie inside the node's managed store (data_dir), and is opened read-only (a
  missing file is never created);
- an HTTP base address whose host resolves to a loopback, private, link-local, multicast or otherwise
  non-global address is refused unless the admin registers it as internal; a path chosen by a department
  user stays under the base address; every call checks the address again (DNS may change);
- every failure to reach a source gives one message shape that names the connection, never what exists on
  the server (the details go to the node's log)."""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from sqlalchemy import inspect, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from govshare.authz import Actor, require_role
from govshare.catalog.vocab import LabelledEnum
from govshare.config import settings_of
from govshare.db import utcnow
from govshare.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed, raise_invalid
from govshare.gateway.models import DataConnection, DataSource
from govshare.orgs.models import AdminAction, Department, Role
from govshare.orgs.service import record_admin_change
from govshare.sealing import seal, unseal

logger = logging.getLogger(__name__)

MAX_NAME = 100


class ConnectionKind(LabelledEnum):
    SQL = "sql", "数据库"
    HTTP = "http", "上游接口"


class ConnectionFailed(DomainError):
    """The one shape of every failure to reach a source: which connection, never why in detail."""

    status_code = 422
    code = "connection_failed"


def connection_failed(name: str, field: str = "connection") -> ConnectionFailed:
    return ConnectionFailed(f"无法连接数据连接“{name}”：请检查连接配置、账号和网络（详情见节点日志）", field=field)


# ---------------------------------------------------------------- the node's own database


def _sqlite_file(url: URL) -> Path | None:
    """The database file a SQLite URL opens (also when written as a `file:` URI)."""
    database = url.database or ""
    if database.startswith("file:"):
        database = unquote(urlsplit(database).path)
    return Path(database) if database and database != ":memory:" else None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _addresses(host: str | None) -> set[str]:
    """Every address a host name resolves to (a Unix socket path or no host: the local machine)."""
    if not host or host.startswith("/"):
        return {"local"}
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return {host.lower()}
    return {"local" if ipaddress.ip_address(a.split("%")[0]).is_loopback else a for a in found}


def is_node_database(session: Session, url: URL) -> bool:
    """Whether `url` opens the node's own database: the same file, or the same server and database name."""
    own = make_url(settings_of(session).resolved_database_url)
    if url.get_backend_name() != own.get_backend_name():
        return False
    if url.get_backend_name() == "sqlite":
        mine, theirs = _sqlite_file(own), _sqlite_file(url)
        return mine is not None and theirs is not None and _same_file(mine, theirs)
    same_port = (url.port or 0) == (own.port or 0) or {url.port, own.port} <= {None, 5432, 3306}
    same_name = (url.database or "").lower() == (own.database or "").lower()
    return same_name and same_port and bool(_addresses(url.host) & _addresses(own.host))


def refuse_node_database(session: Session, url: URL) -> None:
    if is_node_database(session, url):
        raise Forbidden("不能把平台自身的数据库登记或接入为数据源", field="url")


# ---------------------------------------------------------------- database URLs


def _parse_sql_url(text: str) -> URL:
    try:
        return make_url((text or "").strip())
    except ArgumentError as exc:
        raise ValidationFailed("数据库连接地址格式不正确，应为 SQLAlchemy URL，如 "
                               "postgresql+psycopg://用户:密码@主机:5432/库名", field="url") from exc


def _confined_sqlite(session: Session, url: URL) -> str:
    """A SQLite URL inside the managed store, as a read-only URI URL (a missing file is not created)."""
    if url.query:
        raise ValidationFailed("SQLite 连接地址不能带参数", field="url")
    path = _sqlite_file(url)
    if path is None:
        raise ValidationFailed("SQLite 连接地址必须指向数据库文件", field="url")
    store = settings_of(session).data_dir.resolve()
    resolved = (path if path.is_absolute() else Path.cwd() / path).resolve()
    if not resolved.is_relative_to(store):
        raise ValidationFailed(f"SQLite 数据库文件必须位于节点托管存储目录（{store}）内", field="url")
    return f"sqlite:///file:{quote(str(resolved))}?mode=ro&uri=true"


def canonical_sql_url(session: Session, text: str) -> str:
    url = _parse_sql_url(text)
    refuse_node_database(session, url)
    if url.get_backend_name() == "sqlite":
        return _confined_sqlite(session, url)
    return url.render_as_string(hide_password=False)


# ---------------------------------------------------------------- HTTP addresses


def refused_address(address: str) -> bool:
    """Loopback, private, link-local, multicast, reserved or unspecified: not a public service."""
    ip = ipaddress.ip_address(address.split("%")[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    ip = mapped or ip
    return not ip.is_global or ip.is_multicast


def check_public_host(host: str, field: str = "url") -> None:
    """Refuses a host that resolves to a non-public address (checked on registration and on every call)."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        raise ValidationFailed("无法解析上游接口地址的主机名", field=field) from exc
    blocked = sorted(a for a in addresses if refused_address(a))
    if blocked:
        raise Forbidden("上游接口地址指向回环、内网、链路本地或组播地址；确为内部服务的，须由平台管理员登记为内部地址",
                        field=field, code="address_refused")


def _base_address(text: str) -> str:
    parts = urlsplit((text or "").strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed("上游接口基地址应为 http:// 或 https:// 开头的完整地址", field="url")
    if parts.fragment:
        raise ValidationFailed("上游接口基地址不能带 # 片段", field="url")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/", parts.query, ""))


UNSAFE_IN_PATH = ("..", "\\", "@", "?", "#", "//", "%2e", "%2f", "%5c", "%00")


def http_url(connection: DataConnection, base: str, path: str) -> str:
    """The base address with a path below it. The path cannot leave the base (no `..`, no other host)."""
    path = (path or "").strip()
    lowered = path.lower()
    if ":" in path.split("/")[0] or any(bad in lowered for bad in UNSAFE_IN_PATH) or any(
            ord(c) < 32 or c.isspace() for c in path):
        raise ValidationFailed("接口路径只能是基地址下的相对路径（不能含 ..、//、\\、@、?、#、空白或控制字符）",
                               field="path")
    path = path.lstrip("/")
    allowed = [p.strip("/") for p in connection.allowed or []]
    if allowed and not any(path == p or path.startswith(p + "/") or not p for p in allowed):
        raise Forbidden(f"接口路径不在数据连接“{connection.name}”允许的范围内：{'、'.join(allowed)}", field="path")
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, parts.path + path, parts.query, ""))


def check_call_address(url: str, internal: bool) -> None:
    """Before each call of an upstream API: the address must still be public, unless the admin said internal."""
    if not internal:
        check_public_host(urlsplit(url).hostname or "", field="source")


# ---------------------------------------------------------------- registering (the platform admin)


def _department(session: Session, department_id: int) -> Department:
    department = session.get(Department, department_id)
    if department is None:
        raise NotFound(f"部门不存在：{department_id}", field="department_id")
    return department


def _allowed(values) -> list[str]:
    cleaned = [str(v).strip() for v in (values or []) if str(v).strip()]
    for value in cleaned:
        if any(ord(c) < 32 for c in value):
            raise ValidationFailed("允许范围不能含控制字符", field="allowed")
    return list(dict.fromkeys(cleaned))


def register(session: Session, actor: Actor, department_id: int, name: str, kind: str, url: str,
             allowed=None, internal: bool = False) -> DataConnection:
    """Registers a connection for a department (platform admin). The address is checked (not the node's own
    database, a SQLite file inside the store, a public HTTP host unless internal) and reached once."""
    require_role(actor, Role.PLATFORM_ADMIN, action="登记数据连接")
    department = _department(session, department_id)
    name, errors = (name or "").strip(), {}
    if not name or len(name) > MAX_NAME:
        errors["name"] = f"数据连接名称不能为空，且不超过 {MAX_NAME} 个字符"
    if kind not in ConnectionKind.labels():
        errors["kind"] = "数据连接类型应为 sql（数据库）或 http（上游接口）"
    if not (url or "").strip():
        errors["url"] = "请填写连接地址（数据库 URL 或接口的基础地址）"
    raise_invalid(errors)  # every field the clerk typed wrong at once
    if session.scalar(select(DataConnection.id).where(DataConnection.department_id == department.id,
                                                      DataConnection.name == name)):
        raise Conflict(f"{department.name}已有名为“{name}”的数据连接", field="name")
    kind = ConnectionKind(kind).value
    if kind == ConnectionKind.SQL:
        location = canonical_sql_url(session, url)
        _reach_database(name, location)
    else:
        location = _base_address(url)
        if not internal:
            check_public_host(urlsplit(location).hostname or "")
    connection = DataConnection(department_id=department.id, name=name, kind=kind, location=seal(session, location),
                                allowed=_allowed(allowed), internal=bool(internal) and kind == ConnectionKind.HTTP,
                                created_by_id=actor.user_id)
    session.add(connection)
    session.flush()
    record_admin_change(session, actor, AdminAction.CONNECTION_REGISTERED, "connection", connection.id,
                        f"为{department.name}登记数据连接“{name}”（{ConnectionKind(kind).label}）")
    return connection


def _reach_database(name: str, url: str) -> None:
    from govshare.gateway.sources import engine_for

    try:
        inspect(engine_for(url)).get_table_names()  # reads the schema: a file that is no database fails here
    except Exception as exc:  # any driver error; its detail is for the node's log only
        logger.warning("data connection %s unreachable: %r", name, exc)
        raise connection_failed(name, field="url") from exc


def retire(session: Session, actor: Actor, connection_id: int) -> DataConnection:
    """Stops new sources being made through the connection (sources already made keep serving)."""
    require_role(actor, Role.PLATFORM_ADMIN, action="停用数据连接")
    connection = session.get(DataConnection, connection_id)
    if connection is None:
        raise NotFound(f"数据连接不存在：{connection_id}", field="connection_id")
    if connection.retired_at is not None:
        raise Conflict("数据连接已停用", field="status")
    connection.retired_at = utcnow()
    session.flush()
    record_admin_change(session, actor, AdminAction.CONNECTION_RETIRED, "connection", connection.id,
                        f"停用{_department(session, connection.department_id).name}的数据连接“{connection.name}”")
    return connection


# ---------------------------------------------------------------- using (a department's users)


def visible(session: Session, actor: Actor) -> list[DataConnection]:
    """The admin and auditors see every connection; a department's users their own department's."""
    query = select(DataConnection).order_by(DataConnection.department_id, DataConnection.name)
    if not (actor.is_system or actor.has(Role.PLATFORM_ADMIN, Role.AUDITOR)):
        query = query.where(DataConnection.department_id == actor.department_id,
                            DataConnection.retired_at.is_(None))
    return list(session.scalars(query))


def usable(session: Session, actor: Actor, department_id: int, connection: int | str, kind: str) -> DataConnection:
    """The department's active connection named (or numbered) `connection`, of the kind the source needs.
    Another department's connection is "not found", like one that does not exist (no probing)."""
    text = str(connection or "").strip()
    if not text:
        raise ValidationFailed("必须选择本部门的数据连接", field="connection")
    query = select(DataConnection).where(DataConnection.department_id == department_id,
                                         DataConnection.retired_at.is_(None))
    by_id = query.where(DataConnection.id == int(text)) if text.isdigit() else None
    found = (session.scalar(by_id) if by_id is not None else None) or session.scalar(
        query.where(DataConnection.name == text))
    if found is None or (not actor.is_system and actor.department_id != department_id):
        raise NotFound(f"本部门没有名为“{text}”的可用数据连接", field="connection")
    if found.kind != kind:
        raise ValidationFailed(f"数据连接“{found.name}”的类型是{ConnectionKind(found.kind).label}，"
                               f"不能用于接入{ConnectionKind(kind).label}", field="connection")
    return found


def table_allowed(connection: DataConnection, qualified: str) -> None:
    """`allowed` holds `table`, `schema.table` or `schema.*` (compared ignoring case); empty allows all."""
    allowed = [a.lower() for a in connection.allowed or []]
    if not allowed:
        return
    name = qualified.lower()
    schema = name.rpartition(".")[0]
    if name in allowed or (schema and f"{schema}.*" in allowed):
        return
    raise Forbidden(f"表 {qualified} 不在数据连接“{connection.name}”允许接入的范围内", field="table")


def location_of(session: Session, connection: DataConnection) -> str:
    return unseal(session, connection.location)


def node_database_source(session: Session, source: DataSource, url: str) -> bool:
    """Whether a stored SQL source opens the node's own database (sources connected before connections
    existed may): the gateway then refuses to serve it."""
    try:
        return is_node_database(session, make_url(url))
    except ArgumentError:
        return False


# ---------------------------------------------------------------- views


def shown_location(session: Session, kind: str, sealed: str) -> str:
    """A sealed address as people see it, without secrets: no password, no query string of an API."""
    try:
        text = unseal(session, sealed)
    except DomainError:
        return "（无法解密）"
    if kind == ConnectionKind.SQL:
        try:
            url = make_url(text)
        except ArgumentError:
            return "（地址格式无效）"
        if url.get_backend_name() == "sqlite":
            return f"sqlite:///{_sqlite_file(url)}"
        return url.render_as_string(hide_password=True)
    parts = urlsplit(text)
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def view(session: Session, connection: DataConnection) -> dict:
    department = session.get(Department, connection.department_id)
    return {
        "id": connection.id, "department_id": connection.department_id,
        "department_name": department.name if department else "", "name": connection.name,
        "kind": connection.kind, "kind_label": ConnectionKind(connection.kind).label,
        "location": shown_location(session, connection.kind, connection.location),
        "allowed": list(connection.allowed or []),
        "internal": connection.internal, "active": connection.retired_at is None,
        "retired_at": connection.retired_at, "created_at": connection.created_at,
    }
