"""`govshare` command line: thin commands over the services, one sub-command group per domain."""

from __future__ import annotations

import sys

import typer

from govshare.authz import actor_named
from govshare.cli_support import SYSTEM, console, database, err_console, unit_of_work
from govshare.config import get_settings
from govshare.errors import DomainError
from govshare.orgs.models import Role

app = typer.Typer(help="govshare 政务数据共享平台", no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="数据库迁移", no_args_is_help=True)
dept_app = typer.Typer(help="部门管理", no_args_is_help=True)
user_app = typer.Typer(help="用户管理", no_args_is_help=True)
catalog_app = typer.Typer(help="目录管理（一本账）", no_args_is_help=True)
token_app = typer.Typer(help="令牌管理（R18：实时吊销）", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(dept_app, name="dept")
app.add_typer(user_app, name="user")
app.add_typer(catalog_app, name="catalog")
app.add_typer(token_app, name="token")



def ensure_node_keys(settings) -> str:
    """Creates the node's keys on first use (owner-only files under data_dir/keys): the key that encrypts
    stored secrets, and the Ed25519 key that signs usage-record checkpoints (R12, R18). Returns the
    checkpoint key's id."""
    from govshare.audit import chain
    from govshare.sealing import node_key

    node_key(settings)
    return chain.key_id(chain.signing_key(settings).public_key())


@app.command()
def init() -> None:
    """Set up this node: migrate the database and create the node keys (kept with permissions 0600)."""
    settings = get_settings()
    database().dispose()
    key = ensure_node_keys(settings)
    console.print(f"节点已初始化：数据库已迁移到最新版本；签名密钥 {key}（{settings.data_dir / 'keys'}，仅属主可读）")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to GOVSHARE_DATABASE_URL."""
    from govshare import migrate

    migrate.upgrade(get_settings().resolved_database_url)
    console.print("数据库已迁移到最新版本")


@app.command()
def serve(host: str = typer.Option(None), port: int = typer.Option(None),
          workers: int = typer.Option(1, min=1, help="进程数（每个进程各自监听同一端口，由内核分配连接）")) -> None:
    """Serve the API and the UI."""
    run_server(host, port, workers)


def run_server(host: str | None = None, port: int | None = None, workers: int = 1) -> None:
    """Migrates, makes sure the node keys exist and serves. A plain function (not the typer command), so that
    `demo` passes real values and not typer's Option defaults."""
    import uvicorn

    from govshare.app import create_app

    settings = get_settings()
    database().dispose()  # migrate before serving
    ensure_node_keys(settings)
    host, port = host or settings.host, port or settings.port
    if workers > 1:
        from govshare import serving

        serving.serve("govshare.app:create_app", factory=True, host=host, port=port, workers=workers)
        return
    uvicorn.run(create_app(settings), host=host, port=port)


@dept_app.command("add")
def dept_add(
    name: str,
    level: str = typer.Option(..., help="national/provincial/municipal/county"),
    region_code: str = typer.Option(..., help="6位行政区划代码"),
    uscc: str = typer.Option(None, help="统一社会信用代码"),
    authority: bool = typer.Option(False, help="是否为政务数据共享主管部门"),
    parent_id: int = typer.Option(None),
) -> None:
    from govshare.orgs import service

    with unit_of_work() as session:
        department = service.create_department(
            session, SYSTEM, name=name, level=level, region_code=region_code, uscc_code=uscc,
            parent_id=parent_id, is_competent_authority=authority,
        )
        console.print(f"已创建部门 {department.id}：{department.name}")


@dept_app.command("list")
def dept_list() -> None:
    from rich.table import Table

    from govshare.orgs import service

    with unit_of_work() as session:
        table = Table("ID", "名称", "层级", "区划", "统一社会信用代码", "主管部门", "别名")
        for d in service.list_departments(session):
            authority = "是" if d.is_competent_authority else ""
            aliases = "、".join(a.alias for a in d.aliases)
            table.add_row(str(d.id), d.name, d.level, d.region_code, d.uscc or "", authority, aliases)
        console.print(table)


dept_alias_app = typer.Typer(help="部门别名（简称、曾用名）：导入目录时按名称或别名认定提供部门", no_args_is_help=True)
dept_app.add_typer(dept_alias_app, name="alias")
DEPARTMENT_ARGUMENT = typer.Argument(..., help="部门编号或名称（名称也可以是已有的别名）")
ALIAS_REGION_OPTION = typer.Option(None, "--region-code", help="多个行政区划有同名部门时，指定部门所在的行政区划代码")


@dept_alias_app.command("add")
def dept_alias_add(department: str = DEPARTMENT_ARGUMENT, alias: str = typer.Argument(..., help="别名，如 省统计局"),
                   region_code: str = ALIAS_REGION_OPTION) -> None:
    """Add an alias to a department: rows naming the alias are imported under the department."""
    from govshare.orgs import service

    with unit_of_work() as session:
        found = service.find_department(session, department, region_code=region_code)
        added = service.add_alias(session, SYSTEM, found.id, alias)
        console.print(f"部门 {found.id}（{found.name}）的别名：{added.alias}")


@dept_alias_app.command("remove")
def dept_alias_remove(department: str = DEPARTMENT_ARGUMENT, alias: str = typer.Argument(..., help="要删除的别名"),
                      region_code: str = ALIAS_REGION_OPTION) -> None:
    """Remove an alias of a department."""
    from govshare.orgs import service

    with unit_of_work() as session:
        found = service.find_department(session, department, region_code=region_code)
        removed = service.remove_alias(session, SYSTEM, found.id, service.find_alias(session, found.id, alias).id)
        console.print(f"已删除部门 {found.id}（{found.name}）的别名：{removed.alias}")


@user_app.command("add")
def user_add(
    username: str,
    department_id: int = typer.Option(...),
    role: str = typer.Option(..., help="/".join(r.value for r in Role)),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
    display_name: str = typer.Option(""),
) -> None:
    from govshare.orgs import service

    with unit_of_work() as session:
        user = service.create_user(session, SYSTEM, username=username, password=password, role=role,
                                   department_id=department_id, display_name=display_name)
        console.print(f"已创建用户 {user.id}：{user.username}")


@user_app.command("list")
def user_list() -> None:
    """列出全部用户（角色、部门、是否启用）。"""
    from rich.table import Table

    from govshare.orgs import service
    from govshare.orgs.models import ROLE_LABELS

    with unit_of_work() as session:
        table = Table("ID", "用户名", "姓名", "角色", "部门", "状态")
        for u in service.list_users(session, SYSTEM):
            status = "启用" if u.is_active else "[red]已停用[/red]"
            table.add_row(str(u.id), u.username, u.display_name, ROLE_LABELS.get(u.role, u.role), u.department.name,
                          status)
        console.print(table)


@user_app.command("deactivate")
def user_deactivate(username: str) -> None:
    """停用用户：立即生效，该用户的全部令牌随即失效（R18）。"""
    from govshare.orgs import service

    with unit_of_work() as session:
        user = service.set_user_active(session, SYSTEM, service.find_user(session, username).id, active=False)
        console.print(f"已停用用户 {user.id}：{user.username}（其全部令牌已吊销）")


@user_app.command("activate")
def user_activate(username: str) -> None:
    """重新启用用户（停用时吊销的令牌不会恢复，需重新登录）。"""
    from govshare.orgs import service

    with unit_of_work() as session:
        user = service.set_user_active(session, SYSTEM, service.find_user(session, username).id, active=True)
        console.print(f"已启用用户 {user.id}：{user.username}")


def _typed_twice(label: str) -> str:
    """A secret typed at the terminal, hidden, twice (until both agree)."""
    while True:
        first = typer.prompt(label, hide_input=True)
        if typer.prompt(f"再次输入{label}", hide_input=True) == first:
            return first
        err_console.print("[red]两次输入不一致，请重新输入[/red]")


@user_app.command("reset-password")
def user_reset_password(
    username: str,
    password: str = typer.Option(None, "--password", help="新密码（不填则提示输入：输入不显示，须输入两次）"),
) -> None:
    """重置用户密码：规则与创建用户相同；该用户的全部登录会话立即结束（R18），变更记入管理变更记录。"""
    from govshare.orgs import service

    with unit_of_work() as session:  # the user first: a mistyped name is told before the password is asked
        user_id = service.find_user(session, username).id
    if password is None:
        password = _typed_twice("新密码")
    with unit_of_work() as session:
        user = service.reset_password(session, SYSTEM, user_id, password)
        console.print(f"已重置用户 {user.id}：{user.username} 的密码（其登录会话已结束，须以新密码登录）")


@user_app.command("set-role")
def user_set_role(username: str, role: str = typer.Argument(..., help="/".join(r.value for r in Role))) -> None:
    """修改用户角色：该用户的全部登录会话立即结束（R18），变更记入管理变更记录。"""
    from govshare.orgs import service
    from govshare.orgs.models import ROLE_LABELS

    with unit_of_work() as session:
        found = service.find_user(session, username)
        before = found.role
        user = service.change_role(session, SYSTEM, found.id, role)
        label = f"{ROLE_LABELS[Role(user.role)]}（{user.role}）"
        if user.role == before:
            console.print(f"用户 {user.id}：{user.username} 的角色已是{label}，未修改")
        else:
            console.print(f"已将用户 {user.id}：{user.username} 的角色改为{label}（其登录会话已结束）")


@token_app.command("list")
def token_list(username: str) -> None:
    """列出某用户的令牌（不含令牌本身）。"""
    from rich.table import Table

    from govshare.orgs import service

    with unit_of_work() as session:
        user = service.find_user(session, username)
        table = Table("ID", "类型", "名称", "创建时间", "到期时间", "吊销时间")
        for t in service.list_tokens(session, SYSTEM, user_id=user.id):
            table.add_row(str(t.id), t.kind, t.name, f"{t.created_at:%Y-%m-%d %H:%M}",
                          f"{t.expires_at:%Y-%m-%d %H:%M}" if t.expires_at else "不过期",
                          f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "")
        console.print(table)


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """吊销令牌：立即生效（R18）。"""
    from govshare.orgs import service

    with unit_of_work() as session:
        token = service.revoke_token(session, SYSTEM, token_id)
        console.print(f"已吊销令牌 {token.id}（{token.user.username} · {token.name}）")


@catalog_app.command("one-source")
def catalog_one_source(
    detect: bool = typer.Option(False, "--detect", help="先从已发布目录重新检测"),
    as_json: bool = typer.Option(False, "--json", help="以 JSON 输出"),
) -> None:
    """一数一源（R06）：多个部门采集的同一数据项及其牵头数源部门。"""
    import json

    from rich.table import Table

    from govshare.catalog import onesource

    with unit_of_work() as session:
        if detect:
            result = onesource.detect_clusters(session, SYSTEM)
            if not as_json:
                console.print(f"检测完成：{result.clusters} 个数据项（新增 {result.created}，移除 {result.removed}，"
                              f"保留牵头部门 {result.leads_kept}）")
                for label in result.leads_cleared:
                    console.print(f"[yellow]牵头部门已不再采集“{label}”，认定已清除[/yellow]")
        views = [onesource.cluster_view(c) for c in onesource.list_clusters(session, SYSTEM)]
        if as_json:
            typer.echo(json.dumps(views, ensure_ascii=False, indent=2, default=str))
            return
        table = Table("ID", "数据项", "类型", "部门数", "牵头数源部门", "各部门的名称（部门：信息项 @ 目录）")
        for v in views:
            members = "\n".join(
                f"{m['department_name']}：{m['item_name']} @ {m['resource_code']}" for m in v["members"]
            )
            table.add_row(str(v["id"]), v["label"], v["data_type_label"], str(v["department_count"]),
                          v["lead_department_name"] or "[yellow]未认定[/yellow]", members)
        console.print(table)


@catalog_app.command("lead")
def catalog_lead(
    cluster_id: int,
    department_id: int,
    reason: str = typer.Option(..., "--reason", help="认定理由，如法定职责依据"),
    user: str = typer.Option(None, "--user", help="以该主管部门审核员的身份认定（默认：节点运维）"),
) -> None:
    """认定一数一源的牵头数源部门（R06）。"""
    from govshare.catalog import onesource

    with unit_of_work() as session:
        actor = actor_named(session, user)
        cluster = onesource.name_lead_source(session, actor, cluster_id, department_id, reason)
        console.print(f"已认定“{cluster.label}”的牵头数源部门：{cluster.lead_department.name}")


@catalog_app.command("import")
def catalog_import(
    file: str = typer.Argument(..., help="目录文件：.xlsx（目录+信息项）、.csv（及同名 .items.csv）或 .json"),
    mapping: str = typer.Option(None, "--mapping", help='列映射文件（JSON：{"目标字段": "源列名"}）'),
    report_path: str = typer.Option(None, "--report", help="把导入报告写入该 JSON 文件"),
    region_code: str = typer.Option(None, "--region-code",
                                    help="新建提供部门的6位行政区划代码（需要新建部门时才必需）"),
    level: str = typer.Option(None, "--level", help="新建提供部门的层级（默认按区划代码推定）"),
    publish: bool = typer.Option(False, "--publish", help="按已在原平台发布的目录直接发布（节点运维）"),
    default_provider: str = typer.Option(None, "--default-provider", help="提供部门为空的行使用该部门"),
    show_mapping: bool = typer.Option(False, "--show-mapping", help="只显示识别出的列映射，不导入"),
) -> None:
    """导入目录文件：识别列、逐行校验，拒绝的行给出行号、列和规则（R01、R03、R04）。"""
    import json
    from pathlib import Path

    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from govshare.catalog import importer

    try:
        explicit = importer.read_mapping_file(mapping) if mapping else None
        if show_mapping:
            preview = importer.preview_mapping(file, explicit)
            title = f"{preview['file']}（{preview['total_rows']} 行）"
            table = Table("目标字段", "标准列名", "源列", "示例值", title=title)
            for row in preview["mapping"]:
                table.add_row(row["target"], row["label"], escape(row["column"]) + ("（映射文件）" if row["explicit"]
                              else ""), escape(row["sample"]))
            console.print(table)
            console.print(f"未识别（忽略）的列：{escape('、'.join(preview['ignored_columns'])) or '无'}")
            console.print(f"文件中没有的字段：{'、'.join(preview['missing']) or '无'}")
            return
    except (DomainError, OSError) as exc:
        err_console.print(f"[red]错误：{getattr(exc, 'message', exc)}[/red]")
        raise typer.Exit(2) from exc
    columns = (TextColumn("[bold]导入目录"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with unit_of_work() as session, Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("", total=None)
        report = importer.import_file(
            session, SYSTEM, Path(file), mapping=explicit, region_code=region_code, level=level, publish=publish,
            default_provider=default_provider, progress=lambda done, total: progress.update(task, completed=done,
                                                                                             total=total))
    data = report.to_dict()
    if report_path:
        Path(report_path).write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    console.print(f"{report.file}：共 {report.total_rows} 行，新建 {report.created}，"
                  f"未变（已导入过）{report.unchanged}，修改草稿 {report.updated}，提出修订 {report.revisions}，"
                  f"重复 {len(report.duplicates)}，拒绝 {report.rejected_rows}；"
                  f"新建部门 {len(report.departments_created)} 个；用时 {report.seconds:.2f} 秒")
    for duplicate in report.duplicates:
        console.print(f"[yellow]第{duplicate['row']}行与第{duplicate['duplicate_of']}行完全相同，已跳过[/yellow]")
    if report.rejected:
        table = Table("行号", "列", "规则", "值", title="被拒绝的行")
        for problem in report.rejected[:100]:
            row = f"{problem.get('sheet', '')}{problem['row']}" if problem.get("sheet") else str(problem["row"])
            table.add_row(row, escape(problem["column"]), escape(problem["rule"]), escape(problem["value"][:40]))
        console.print(table)
        if len(report.rejected) > 100:
            console.print(f"……另有 {len(report.rejected) - 100} 条，见 --report 报告")
    for note in report.defaults:
        console.print(f"[dim]推定：{escape(note['column'])}：{escape(note['note'])}（{note['rows']} 行）[/dim]")
    if report.rejected:
        raise typer.Exit(1)


@catalog_app.command("item-add")
def catalog_item_add(
    entry_id: int = typer.Argument(..., help="目录编号"),
    name: str = typer.Option(..., "--name", help="字段名，如 fddbr（与已有信息项同名则修改该信息项）"),
    chinese_name: str = typer.Option(..., "--chinese-name", help="信息项名称，如 法定代表人"),
    data_type: str = typer.Option("字符型", "--type", help="数据类型（代码或中文，如 string / 字符型、date / 日期型）"),
    length: int = typer.Option(None, "--length", help="长度"),
    grade: str = typer.Option("一般1", "--grade", help="分级，如 一般1…一般4、重要、核心"),
    personal_info: str = typer.Option("none", "--personal",
                                      help="个人信息：none / pi（个人信息）/ spi（敏感个人信息）"),
    description: str = typer.Option("", "--description", help="说明"),
    reason: str = typer.Option("", "--reason", help="修改原因（已发布目录形成修订时使用）"),
    user: str = typer.Option(None, "--user", help="以该用户的身份操作（默认：节点运维）"),
) -> None:
    """添加或修改一个信息项：草稿直接修改；已发布目录提出修订，待主管部门审核（R05）。"""
    from pydantic import ValidationError

    from govshare.authz import actor_named
    from govshare.catalog import service
    from govshare.catalog.schemas import ItemIn
    from govshare.validation import validation_failed

    with unit_of_work() as session:
        try:
            item = ItemIn(name=name, chinese_name=chinese_name, data_type=data_type, length=length, grade=grade,
                          personal_info=personal_info, description=description)
        except ValidationError as exc:
            raise validation_failed(exc) from exc
        change = service.put_items(session, actor_named(session, user), entry_id, [item], reason)
        session.flush()
        done = (f"已提出修订 {change.revision.id}，待主管部门审核后生效" if change.revision
                else f"目录 {entry_id} 已有信息项 {len(change.entry.items)} 个")
    console.print(f"信息项“{chinese_name}”（{name}）：{done}")


@catalog_app.command("items-import")
def catalog_items_import(
    file: str = typer.Argument(..., help="信息项表：.xlsx（“信息项”工作表）或 .csv，按“资源代码”对应已登记的目录"),
    user: str = typer.Option(None, "--user", help="以该用户的身份操作（默认：节点运维）"),
) -> None:
    """按资源代码为已登记的目录导入信息项（导入的门户目录没有信息项，接入数据前先补充）。"""
    from pathlib import Path

    from rich.markup import escape
    from rich.table import Table

    from govshare.authz import actor_named
    from govshare.catalog import importer

    with unit_of_work() as session:
        report = importer.import_items(session, actor_named(session, user), Path(file))
    console.print(f"{report.file}：共 {report.total_rows} 行；修改草稿 {report.entries_updated} 个，"
                  f"提出修订 {report.revisions} 个，未变 {report.unchanged} 个，拒绝 {len(report.rejected)} 行")
    if report.rejected:
        table = Table("行号", "列", "规则", "资源代码", title="被拒绝的行")
        for problem in report.rejected[:100]:
            table.add_row(str(problem["row"]), escape(problem["column"]), escape(problem["rule"]),
                          escape(problem["value"]))
        console.print(table)
        raise typer.Exit(1)


@catalog_app.command("export")
def catalog_export(
    out: str = typer.Argument(..., help="OUT.xlsx，或 OUT.csv（另写 OUT.items.csv）"),
    status: str = typer.Option(None, "--status", help="只导出该状态的目录，如 published"),
) -> None:
    """按标准格式导出目录（目录 + 信息项）。"""
    from govshare.catalog import exporter

    with unit_of_work() as session:
        written = exporter.export_file(session, SYSTEM, out, status=status)
    console.print("已导出：" + "、".join(str(p) for p in written))


def _sqlite_folder(url: str) -> None:
    """Creates the folder of a SQLite file (a fresh checkout has no ./var yet) before migrating."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _reset_demo_database(url: str) -> None:
    """Deletes the SQLite file of the demo; other databases are never wiped by the demo command."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        err_console.print("[red]错误：--reset 只能删除 SQLite 演示数据库，请手动清理其他数据库[/red]")
        raise typer.Exit(2)
    for suffix in ("", "-wal", "-shm"):
        Path(parsed.database + suffix).unlink(missing_ok=True)
    console.print(f"已删除演示数据库：{parsed.database}")


@app.command()
def demo(
    seed_only: bool = typer.Option(False, "--seed-only", help="只写入演示数据，不启动服务"),
    reset: bool = typer.Option(False, "--reset", help="先删除演示数据库（仅限 SQLite）再重新写入"),
    host: str = typer.Option(None),
    port: int = typer.Option(None),
) -> None:
    """Seed the demo province (安徽省 · 合肥市 · 蜀山区) and serve it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from govshare.demo import seed as demo_seed

    settings = get_settings()
    if reset:
        _reset_demo_database(settings.resolved_database_url)
    _sqlite_folder(settings.resolved_database_url)
    db = database()
    ensure_node_keys(settings)
    try:
        columns = (TextColumn("[bold]写入演示数据"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.description}"))
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("", total=demo_seed.total_steps())
            report = demo_seed.seed_demo(
                db, settings, progress=lambda text: progress.update(task, advance=1, description=text)
            )
    except DomainError as exc:
        err_console.print(f"[red]错误：{exc.message}[/red]")
        raise typer.Exit(2) from exc
    finally:
        db.dispose()
    if report.created:
        from govshare.catalog.vocab import EntryStatus

        states = "，".join(f"{EntryStatus(k).label} {v}" for k, v in report.entries_by_status.items())
        console.print(f"演示数据已写入：{report.departments} 个部门，{report.entries} 条目录（{states}），"
                      f"一数一源 {report.clusters} 项（已认定牵头部门 {report.leads} 项）")
    else:
        console.print("演示数据已存在，未重复写入（使用 --reset 重新生成）")
    if report.search_indexed is not None:  # a failed rebuild raised SearchIndexFailed above
        console.print(f"搜索索引已重建：{report.search_indexed} 条已发布目录")
    if report.sharing_summary:
        console.print(report.sharing_summary)
    table = Table("用户名", "角色", "部门", title=f"演示用户（统一密码：{report.password}）")
    for username, role_label, department_name in report.users:
        table.add_row(username, role_label, department_name)
    console.print(table)
    console.print(f"演示密码：[bold]{report.password}[/bold]")
    if not seed_only:
        run_server(host, port)


# search: `govshare search QUERY [--json] [filters]`, `govshare index rebuild|status` (see govshare.search.commands)
from govshare.search.commands import register as _register_search  # noqa: E402

_register_search(app)

# One-stop sharing and its neighbours: each domain registers its own commands.
from govshare.audit.commands import register as _register_audit  # noqa: E402
from govshare.demands.commands import register as _register_demands  # noqa: E402
from govshare.gateway.commands import register as _register_gateway  # noqa: E402
from govshare.notify.commands import register as _register_notify  # noqa: E402
from govshare.objections.commands import register as _register_objections  # noqa: E402
from govshare.quality.commands import register as _register_quality  # noqa: E402
from govshare.sharing.commands import register as _register_sharing  # noqa: E402
from govshare.workdays.commands import register as _register_workdays  # noqa: E402

for _register in (_register_sharing, _register_demands, _register_notify, _register_workdays, _register_gateway,
                  _register_audit, _register_quality, _register_objections):
    _register(app)


jobs_app = typer.Typer(help="定时任务（到期提醒、逾期标记、授权到期、Webhook 投递）", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


def _print_job_results(results: dict[str, dict[str, int]]) -> None:
    done = [f"{domain}.{what}={count}" for domain, counts in results.items() for what, count in counts.items()]
    console.print("定时任务完成：" + ("，".join(done) if done else "无待处理事项"))


@jobs_app.command("run")
def jobs_run() -> None:
    """Run every scheduled job once (reminders, overdue marks, grant expiry, webhook deliveries)."""
    from govshare import jobs

    db = database()
    try:
        _print_job_results(jobs.run_all(db))
    finally:
        db.dispose()


@app.command()
def worker(
    interval: int = typer.Option(None, "--interval", help="两轮之间的秒数（默认 GOVSHARE_WORKER_INTERVAL_SECONDS）"),
    rounds: int = typer.Option(0, "--rounds", help="运行的轮数，0 表示一直运行"),
) -> None:
    """Background worker: runs the scheduled jobs every interval until stopped (Ctrl+C)."""
    import time

    from govshare import jobs

    db = database()
    pause = interval or get_settings().worker_interval_seconds
    done = 0
    try:
        while True:
            try:
                _print_job_results(jobs.run_all(db))
            except Exception as exc:  # the worker keeps running; the next round retries
                err_console.print(f"[red]定时任务出错，将在下一轮重试：{exc}[/red]")
            done += 1
            if rounds and done >= rounds:
                break
            time.sleep(pause)
    except KeyboardInterrupt:
        console.print("后台任务已停止")
    finally:
        db.dispose()


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())
