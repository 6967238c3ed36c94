"""CLI commands of the gateway's sources, registered on the main typer app by govshare.cli:

`govshare source connect-sql|connect-file|connect-http|show|confirm|list|disconnect` and
`govshare connection add|list|retire` (the platform admin's data connections, gateway.connections).

Every command takes `--user USERNAME` to act as that user (default: the node operator). Domain errors print
their message and exit with code 2. Rules live in gateway.connect."""

from __future__ import annotations

import typer

from govshare.authz import actor_named
from govshare.cli_support import console, unit_of_work

source_app = typer.Typer(help="数据源接入（库表、文件、上游接口）、数据画像与分级确认", no_args_is_help=True)

connection_app = typer.Typer(help="数据连接：平台管理员为部门登记数据库和上游接口基地址", no_args_is_help=True)

USER = typer.Option(None, "--user", help="以该用户的身份操作（默认：节点运维）")
KEY = typer.Option(..., "--key", help="按键查询使用的主键信息项（字段名或中文名），如 gmsfhm 或 公民身份号码")
MAP = typer.Option(None, "--map", help="信息项=列名，可多次指定，如 --map gmsfhm=SFZH；未指定的按名称对应")


def register(app: typer.Typer) -> None:
    """Adds this domain's command groups to `govshare`."""
    app.add_typer(source_app, name="source")
    app.add_typer(connection_app, name="connection")


def _column_map(pairs: list[str] | None) -> dict[str, str] | None:
    from govshare.errors import ValidationFailed

    if not pairs:
        return None
    mapping = {}
    for pair in pairs:
        item, sep, column = pair.partition("=")
        if not sep or not item.strip() or not column.strip():
            raise ValidationFailed(f"--map 的格式应为 信息项=列名，收到 {pair!r}", field="column_map")
        mapping[item.strip()] = column.strip()
    return mapping


def _text(value) -> str:
    from rich.markup import escape

    return escape(str(value)) if value not in (None, "") else "—"


def _label(kind: str, value) -> str:
    from govshare.catalog.vocab import Grade, PersonalInfo

    enum = {"grade": Grade, "personal_info": PersonalInfo}[kind]
    member = enum.parse(str(value or ""))
    return member.label if member else _text(value)


def _print_source(view: dict, *, rows: int = 20) -> None:
    """The source, its profile per item and (for files) the first bad rows of its load report."""
    from rich.table import Table

    from govshare.gateway.masking import parse_rule

    console.print(f"[bold]数据源：{_text(view['entry_name'])}[/bold]（{view['resource_code']}，"
                  f"目录 {view['entry_id']}）  {view['kind_label']}  状态：{view['status_label']}")
    where = f"位置：{_text(view['location'])}"
    if view["table_name"]:
        where += f"    表：{_text(view['table_name'])}"
    if view["key_param"]:
        where += f"    主键参数：{_text(view['key_param'])}"
    console.print(where)
    count = "未知" if view["row_count"] is None else f"{view['row_count']} 行"
    sampled = f"（画像基于前 {view['sample_rows']} 行样本）" if view["sampled"] else ""
    loaded = f"    装载时间：{view['loaded_at']:%Y-%m-%d %H:%M}（UTC）" if view["loaded_at"] else ""
    console.print(f"数据量：{count}{sampled}    主键信息项：{view['key_item']}{loaded}")
    table = Table(title="数据画像与分级建议")
    for header in ("信息项", "列", "空值", "不同值", "识别类型", "匹配率", "当前分级", "建议分级", "建议脱敏"):
        table.add_column(header, overflow="fold")
    for item in view["items"]:
        ratio = f"{item['match_ratio']:.0%}" if item["match_ratio"] is not None else "—"
        current = f"{_label('grade', item['grade'])}/{_label('personal_info', item['personal_info'])}"
        suggested = "—"
        if item["suggested_grade"]:
            suggested = (f"{_label('grade', item['suggested_grade'])}/"
                         f"{_label('personal_info', item['suggested_personal_info'])}")
            if suggested != current:
                suggested = f"[yellow]{suggested}[/yellow]"
        rule = parse_rule(item["suggested_masking"]).label if item["suggested_masking"] else "—"
        name = f"{_text(item['chinese_name'])}（{item['name']}）" + (" [bold]主键[/bold]" if item["is_key"] else "")
        table.add_row(name,
                      _text(item["column"]), _text(item["nulls"]), _text(item["distinct"]),
                      _text(item["kind_label"]), ratio, current, suggested, rule)
    console.print(table)
    if view["confirmed_at"]:
        who = view["confirmed_by"] or "节点运维"
        console.print(f"分级已由 {who} 于 {view['confirmed_at']:%Y-%m-%d %H:%M}（UTC）确认")
    else:
        console.print("[yellow]分级建议尚未确认：govshare source confirm ENTRY_ID --accept-all 或逐项 --grade[/yellow]")
    report = view["load_report"]
    if report.get("rows_read") is not None:
        encoding = f"，编码 {report['encoding']}" if report.get("encoding") else ""
        console.print(f"装载报告：{report['format']}{encoding}，读取 {report['rows_read']} 行，"
                      f"装载 {report['rows_loaded']} 行，跳过问题行 {report['rejected']} 行")
        if report.get("bad_rows"):
            bad = Table(title=f"问题行（前 {min(rows, len(report['bad_rows']))} 行；数据行号不含表头）")
            bad.add_column("行号", no_wrap=True)
            bad.add_column("原因", overflow="fold")
            bad.add_column("内容", overflow="fold")
            for row in report["bad_rows"][:rows]:
                bad.add_row(str(row["row"]), _text("；".join(row["reasons"])), _text(row["text"][:80]))
            console.print(bad)


def _act(user: str | None, action) -> None:
    from govshare.gateway import connect

    with unit_of_work() as session:
        actor = actor_named(session, user)
        source = action(session, actor)
        _print_source(connect.source_view(session, source))


@source_app.command("connect-sql")
def connect_sql(
    entry_id: int = typer.Argument(..., help="已发布目录的编号"),
    connection: str = typer.Option(..., "--connection", help="本部门的数据连接（名称或编号，由平台管理员登记）"),
    table: str = typer.Option(..., "--table", help="表或视图名，可带模式名，如 public.rk_jbxx"),
    key: str = KEY,
    column_map: list[str] = MAP,
    user: str = USER,
) -> None:
    """接入本部门数据连接中的表，并对样本做数据画像。"""
    from govshare.gateway import connect

    _act(user, lambda session, actor: connect.connect_sql(session, actor, entry_id, connection, table, key,
                                                          _column_map(column_map)))


@source_app.command("connect-file")
def connect_file(
    entry_id: int = typer.Argument(..., help="已发布目录的编号"),
    path: str = typer.Argument(..., help="CSV（UTF-8 或 GBK）、XLSX 或 Parquet 文件"),
    key: str = KEY,
    column_map: list[str] = MAP,
    user: str = USER,
) -> None:
    """把文件装载进托管存储并接入目录；问题行逐行报告并跳过，其余行照常提供。"""
    from pathlib import Path

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from govshare.gateway import connect

    columns = (TextColumn("[bold]装载文件"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("", total=len(connect.FILE_STAGES))

        def step(stage: str) -> None:
            done = connect.FILE_STAGES.index(stage)
            progress.update(task, completed=done, description=stage)

        def action(session, actor):
            source = connect.connect_file(session, actor, entry_id, Path(path), Path(path).name, key,
                                          _column_map(column_map), progress=step)
            progress.update(task, completed=len(connect.FILE_STAGES), description="完成")
            return source

        _act(user, action)


@source_app.command("connect-http")
def connect_http(
    entry_id: int = typer.Argument(..., help="已发布目录的编号"),
    connection: str = typer.Option(..., "--connection", help="本部门的上游接口数据连接（名称或编号）"),
    path: str = typer.Option("", "--path", help="基地址下的接口路径：GET 基地址/路径?主键参数=值 返回记录"),
    key: str = KEY,
    key_param: str = typer.Option("key", "--key-param", help="上游接口的主键参数名"),
    column_map: list[str] = typer.Option(..., "--map", help="信息项=接口返回字段，每个信息项都须指定"),
    probe_key: str = typer.Option(None, "--probe-key", help="用此主键调用一次接口，核对返回字段"),
    user: str = USER,
) -> None:
    """接入上游接口：网关代需求部门调用（只支持按键查询和核验）。"""
    from govshare.gateway import connect

    _act(user, lambda session, actor: connect.connect_http(session, actor, entry_id, connection, path, key,
                                                           key_param, _column_map(column_map), probe_key))


@source_app.command("show")
def show(entry_id: int, rows: int = typer.Option(20, "--rows", help="显示的问题行数"), user: str = USER) -> None:
    """查看数据源、数据画像、分级建议和装载报告。"""
    from govshare.gateway import connect

    with unit_of_work() as session:
        actor = actor_named(session, user)
        _print_source(connect.source_view(session, connect.get_source(session, actor, entry_id)), rows=rows)


@source_app.command("confirm")
def confirm(
    entry_id: int,
    accept_all: bool = typer.Option(False, "--accept-all", help="全部采纳画像建议的分级和个人信息标识"),
    grade: list[str] = typer.Option(None, "--grade", help="信息项=分级，如 gmsfhm=一般4（可多次指定）"),
    personal_info: list[str] = typer.Option(None, "--pi", help="信息项=个人信息标识，如 gmsfhm=spi 或 敏感个人信息"),
    reason: str = typer.Option("", "--reason", help="说明"),
    user: str = USER,
) -> None:
    """确认数据画像的分级建议（只能维持或提高；降低须提交目录修订）。"""
    from govshare.gateway import connect

    def action(session, actor):
        grades: dict[str, dict] = {}
        for key, pairs in (("grade", grade), ("personal_info", personal_info)):
            for item, value in (_column_map(pairs) or {}).items():
                grades.setdefault(item, {})[key] = value
        return connect.confirm_profile(session, actor, entry_id, grades, accept_all=accept_all, reason=reason)

    _act(user, action)


@source_app.command("list")
def list_sources(user: str = USER) -> None:
    """列出可查看的数据源。"""
    from rich.table import Table

    from govshare.gateway import connect

    with unit_of_work() as session:
        actor = actor_named(session, user)
        views = [connect.source_view(session, s) for s in connect.list_sources(session, actor)]
        table = Table(title="数据源")
        for header in ("目录", "资源代码", "提供部门", "类型", "状态", "行数", "装载/接入时间", "分级确认"):
            table.add_column(header, overflow="fold")
        for v in views:
            moment = v["loaded_at"] or v["updated_at"]
            table.add_row(f"{_text(v['entry_name'])}（{v['entry_id']}）", v["resource_code"], v["provider_name"],
                          v["kind_label"], v["status_label"], _text(v["row_count"]), f"{moment:%Y-%m-%d %H:%M}",
                          "已确认" if v["confirmed_at"] else "待确认")
        console.print(table)
        console.print(f"共 {len(views)} 个")


@source_app.command("disconnect")
def disconnect(entry_id: int, reason: str = typer.Option(..., "--reason", help="断开理由（必填，记入办理记录）"),
               user: str = USER) -> None:
    """断开数据源（仍有有效授权时不能断开：停止共享服务须经主管部门批准）。"""
    from govshare.gateway import connect

    _act(user, lambda session, actor: connect.disconnect(session, actor, entry_id, reason))


# ---------------------------------------------------------------- data connections


@connection_app.command("add")
def connection_add(
    department: str = typer.Option(..., "--department", help="部门编号或统一社会信用代码或名称"),
    name: str = typer.Option(..., "--name", help="数据连接名称（部门内唯一），如 人口信息管理系统库"),
    kind: str = typer.Option(..., "--kind", help="sql（数据库）或 http（上游接口）"),
    url: str = typer.Option(..., "--url", help="SQLAlchemy URL 或上游接口基地址（加密保存）"),
    allow: list[str] = typer.Option(None, "--allow", help="允许接入的表（表名、模式.表名、模式.*）或接口路径前缀，"
                                                          "可多次指定；不指定为全部"),
    internal: bool = typer.Option(False, "--internal", help="上游接口基地址是内网中的内部服务（否则内网地址被拒绝）"),
    user: str = USER,
) -> None:
    """为部门登记数据连接（平台管理员）。"""
    from govshare.gateway import connections

    with unit_of_work() as session:
        actor = actor_named(session, user)
        connection = connections.register(session, actor, _department_id(session, department), name, kind, url,
                                          allow or [], internal)
        _print_connections([connections.view(session, connection)])


@connection_app.command("list")
def connection_list(user: str = USER) -> None:
    """列出数据连接（部门用户只看到本部门的）。"""
    from govshare.gateway import connections

    with unit_of_work() as session:
        actor = actor_named(session, user)
        _print_connections([connections.view(session, c) for c in connections.visible(session, actor)])


@connection_app.command("retire")
def connection_retire(connection_id: int, user: str = USER) -> None:
    """停用数据连接：不能再经它接入数据源，已接入的照常提供。"""
    from govshare.gateway import connections

    with unit_of_work() as session:
        actor = actor_named(session, user)
        _print_connections([connections.view(session, connections.retire(session, actor, connection_id))])


def _department_id(session, text: str) -> int:
    from sqlalchemy import or_, select

    from govshare.errors import NotFound, ValidationFailed
    from govshare.orgs.models import Department

    text = text.strip()
    if text.isdigit():
        return int(text)
    matches = session.scalars(select(Department.id).where(or_(Department.name == text, Department.uscc == text))).all()
    if not matches:
        raise NotFound(f"部门不存在：{text}", field="department")
    if len(matches) > 1:
        raise ValidationFailed(f"有多个部门名为“{text}”，请用部门编号或统一社会信用代码", field="department")
    return matches[0]


def _print_connections(views: list[dict]) -> None:
    from rich.table import Table

    table = Table(title="数据连接")
    for heading in ("编号", "部门", "名称", "类型", "地址（不含密码）", "允许范围", "状态"):
        table.add_column(heading, overflow="fold")
    for view in views:
        state = ("在用" if view["active"] else "已停用") + ("（内部地址）" if view["internal"] else "")
        table.add_row(str(view["id"]), _text(view["department_name"]), _text(view["name"]), view["kind_label"],
                      _text(view["location"]), _text("、".join(view["allowed"]) or "全部"), state)
    console.print(table)
