"""`govshare audit ...`: usage records (R12) from the command line, thin over audit.service and audit.chain.

- `verify` proves the hash chain and the signed checkpoints (exit 0 intact, 1 with the first problem);
- `checkpoint` signs the chain's head now (the worker does it every round);
- `records|totals|anomalies --user U` show what that user may see;
- `archive FILE` and `prune --archive FILE` keep records for the retention period and export them first;
- `verify-archive FILE` proves an archive on its own; `key` shows the node's signing key.

Domain errors print their message and exit with code 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import typer

from govshare.authz import actor_named
from govshare.cli_support import console, database, err_console, unit_of_work

audit_app = typer.Typer(help="使用记录（R12：哈希链与签名检查点、统计、异常、归档与清理）", no_args_is_help=True)

USER = typer.Option(None, "--user", help="以该用户的身份查看（默认：节点运维，可看全部）")
SINCE = typer.Option(None, "--since", help="开始日期 YYYY-MM-DD（本地日期，含）")
UNTIL = typer.Option(None, "--until", help="结束日期 YYYY-MM-DD（本地日期，含）")
AS_JSON = typer.Option(False, "--json", help="以 JSON 输出")


def _console():

    return console


def _fail(exc) -> None:

    field = f"（字段：{exc.field}）" if exc.field else ""
    err_console.print(f"[red]错误：{exc.message}{field}[/red]")
    raise typer.Exit(2) from exc


@contextmanager
def _database() -> Iterator:
    """The node's database for a command that manages its own units of work."""
    from govshare.errors import DomainError

    db = database()
    try:
        yield db
    except DomainError as exc:
        _fail(exc)
    finally:
        db.dispose()


@contextmanager
def _work(username: str | None) -> Iterator[tuple]:

    with unit_of_work() as session:
        yield session, actor_named(session, username)


def _date(text: str | None, field: str) -> date | None:
    from govshare.errors import ValidationFailed

    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        _fail(ValidationFailed(f"日期格式应为 YYYY-MM-DD：{text}", field=field))
        raise AssertionError from exc  # _fail always exits


def _dump(data) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _table(*headers: str, title: str | None = None):
    from rich.table import Table

    table = Table(title=title)
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


# ---------------------------------------------------------------- verify and checkpoints


@audit_app.command("verify")
def verify_command(
    workers: int = typer.Option(None, "--workers", help="并行校验的进程数（默认：记录多时每个 CPU 一个）"),
    as_json: bool = AS_JSON,
) -> None:
    """校验使用记录的哈希链和签名检查点；完整则退出码 0，否则退出码 1 并指出第一条有问题的记录。"""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from govshare.audit import service
    from govshare.authz import Actor

    console = _console()
    columns = (TextColumn("[bold]校验使用记录"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with _database() as db, Progress(*columns, console=console, transient=True, disable=as_json) as progress:
        task = progress.add_task("", total=None)
        report = service.verify(db, Actor.system(), lambda n: progress.advance(task, n), workers=workers,
                                on_total=lambda total: progress.update(task, total=total))
    if as_json:
        _dump(report.to_dict())
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report) -> None:
    console = _console()
    span = f"（序号 {report.first_seq} 至 {report.last_seq}）" if report.first_seq is not None else ""
    signed = f"最后签名到序号 {report.last_signed_seq}" if report.last_signed_seq is not None else "尚无有效签名"
    console.print(f"使用记录 {report.records:,} 条{span}，检查点 {report.checkpoints} 个，{signed}，"
                  f"未签名的尾部 {report.unsigned_tail} 条；用时 {report.seconds:.1f} 秒（{report.workers} 个进程）")
    if report.key_id:
        console.print(f"[dim]节点签名密钥：{report.key_id}[/dim]")
    if report.ok:
        console.print("[green]使用记录链完整：每条记录的哈希、链接和签名检查点均校验通过[/green]")
        return
    first = report.first_problem
    console.print(f"[red]校验未通过：第一个问题在序号 {first.seq}（{first.label}）：{first.message}[/red]")
    table = _table("序号", "问题", "说明", title=f"发现的问题（共 {len(report.problems)} 个）")
    for problem in report.problems[:50]:
        table.add_row(str(problem.seq), problem.label, problem.message)
    console.print(table)


@audit_app.command("checkpoint")
def checkpoint_command(user: str = USER) -> None:
    """立即签署记录链头的检查点（后台任务每轮也会签署）。"""
    from govshare.audit import service

    with _work(user) as (session, actor):
        signed = service.checkpoint(session, actor)
        if signed is None:
            _console().print("记录链头已签名（或尚无记录），无需新的检查点")
        else:
            _console().print(f"已签署检查点 {signed.id}：序号 {signed.seq}，哈希 {signed.hash[:16]}…，"
                             f"密钥 {signed.key_id}")


@audit_app.command("key")
def key_command(create: bool = typer.Option(False, "--create", help="没有签名密钥时创建（init 也会创建）")) -> None:
    """显示节点的检查点签名密钥（Ed25519）：密钥编号、文件位置，并检查文件权限为 0600。"""
    from govshare.audit import chain
    from govshare.config import get_settings

    info = chain.key_info(get_settings(), create=create)
    console = _console()
    if not info.exists:
        console.print(f"[red]节点还没有签名密钥：{info.path}"
                      "（运行 govshare init 或 govshare audit key --create）[/red]")
        raise typer.Exit(1)
    console.print(f"密钥编号：{info.key_id}")
    console.print(f"密钥文件：{info.path}")
    if not info.private_to_owner:
        console.print(f"[red]密钥文件权限为 {info.mode:04o}，其他用户可以读取；请执行 chmod 600 {info.path}[/red]")
        raise typer.Exit(1)
    console.print(f"文件权限：{info.mode:04o}（仅属主可读写）")


# ---------------------------------------------------------------- records, totals, anomalies


@audit_app.command("records")
def records_command(
    user: str = USER,
    grant: int = typer.Option(None, "--grant", help="共享授权编号"),
    resource: str = typer.Option(None, "--resource", help="资源代码"),
    system: int = typer.Option(None, "--system", help="应用系统编号"),
    result: str = typer.Option(None, "--result", help="ok / not_found / refused / error"),
    mode: str = typer.Option(None, "--mode", help="lookup / page / verify / export / preview"),
    since: str = SINCE,
    until: str = UNTIL,
    limit: int = typer.Option(50, "--limit"),
    offset: int = typer.Option(0, "--offset"),
    as_json: bool = AS_JSON,
) -> None:
    """列出该用户可以查看的使用记录（最新的在前）。"""
    from govshare.audit import service

    filters = service.Filters(grant, resource, system, result, mode, _date(since, "since"), _date(until, "until"))
    with _work(user) as (session, actor):
        rows = service.list_records(session, actor, filters, limit=limit, offset=offset)
        total = service.count_records(session, actor, filters)
    if as_json:
        _dump(rows)
        return
    table = _table("序号", "时间", "需求部门", "应用系统", "用户", "授权", "资源", "方式", "信息项", "行数", "结果",
                   title=f"使用记录（共 {total} 条，显示 {len(rows)} 条）")
    for r in rows:
        outcome = r["result_label"] + (f"：{r['reason_label']}" if r["reason"] else "")
        table.add_row(str(r["seq"]), f"{r['at']:%Y-%m-%d %H:%M:%S}", r["department_name"] or "—",
                      r["system_name"] or "—", r["username"] or "—", str(r["grant_id"] or "—"),
                      r["resource_code"] or "—", r["mode_label"], "、".join(r["items"]) or "—", str(r["row_count"]),
                      outcome)
    _console().print(table)


@audit_app.command("totals")
def totals_command(
    user: str = USER,
    by: str = typer.Option("day", "--by", help="day / resource / system / result"),
    since: str = SINCE,
    until: str = UNTIL,
    as_json: bool = AS_JSON,
) -> None:
    """按日、资源、应用系统或结果汇总该用户可以查看的使用记录（默认最近 30 天）。"""
    from govshare.audit import service

    filters = service.Filters(since=_date(since, "since"), until=_date(until, "until"))
    with _work(user) as (session, actor):
        rows = service.totals(session, actor, by, filters)
    if as_json:
        _dump(rows)
        return
    table = _table(service.TOTALS_BY.get(by, by), "调用", "已应答", "拒绝", "出错", "行数", title="使用记录汇总")
    for t in rows:
        table.add_row(t["label"], str(t["calls"]), str(t["served"]), str(t["refused"]), str(t["errors"]),
                      str(t["rows"]))
    _console().print(table)


@audit_app.command("anomalies")
def anomalies_command(user: str = USER, since: str = SINCE, until: str = UNTIL, as_json: bool = AS_JSON) -> None:
    """列出异常：非工作时间大量访问、访问量远超平常、多次被拒绝（默认最近 30 天）。"""
    from govshare.audit import service

    with _work(user) as (session, actor):
        rows = service.anomalies(session, actor, _date(since, "since"), _date(until, "until"))
    if as_json:
        _dump(rows)
        return
    if not rows:
        _console().print("没有发现异常")
        return
    table = _table("日期", "异常", "授权", "目录", "需求部门", "说明", title=f"异常（{len(rows)} 项）")
    for a in rows:
        table.add_row(str(a["day"]), a["label"], str(a["grant_id"]), a.get("entry_name", "—"),
                      a.get("requester_name", "—"), a["message"])
    _console().print(table)


# ---------------------------------------------------------------- retention


@audit_app.command("archive")
def archive_command(
    file: Path = typer.Argument(..., help="归档文件（JSON Lines；以 .gz 结尾则压缩）"),
    before: str = typer.Option(None, "--before", help="归档此日期（本地日期）之前的记录；默认：保存期限的截止日"),
) -> None:
    """把早于某日的使用记录连同签名检查点和节点公钥导出为可独立校验的归档文件（不删除记录）。"""
    from govshare.audit import service

    with _database() as db:
        done = service.archive(db, _date(before, "before"), file)
    _console().print(f"已归档 {done['records']:,} 条使用记录（序号 {done['first_seq']} 至 {done['last_seq']}，"
                     f"{done['before']} 之前）和 {done['checkpoints']} 个检查点：{done['path']}")
    _console().print(f"文件 SHA-256：{done['sha256']}")


@audit_app.command("verify-archive")
def verify_archive_command(file: Path = typer.Argument(...), as_json: bool = AS_JSON) -> None:
    """独立校验归档文件（用文件内的公钥）；完整则退出码 0，否则退出码 1。"""
    from govshare.audit import service
    from govshare.errors import DomainError

    try:
        report, header = service.verify_archive(file)
    except DomainError as exc:
        _fail(exc)
    if as_json:
        _dump({**report.to_dict(), "header": {k: v for k, v in header.items() if k != "public_key"}})
    else:
        _console().print(f"归档文件：{file}（{header['before']} 之前，签名密钥 {header['key_id']}）")
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("prune")
def prune_command(
    archive: Path = typer.Option(..., "--archive", help="已归档这些记录的文件（须校验通过）"),
    before: str = typer.Option(None, "--before", help="清理此日期（本地日期）之前的记录；默认：保存期限的截止日"),
    user: str = USER,
) -> None:
    """删除超过保存期限且已归档的使用记录；先在最后一条被删记录处签署清理检查点，余下的记录链仍可校验。"""
    from govshare.audit import service

    with _database() as db:
        if user:
            with db.session(read_only=True) as session:
                actor = actor_named(session, user)
        else:
            actor = None
        done = service.prune(db, _date(before, "before"), archive, actor=actor)
    if not done["pruned"]:
        _console().print(f"没有 {done['before']} 之前的使用记录需要清理")
        return
    _console().print(f"已清理 {done['pruned']:,} 条使用记录（序号 {done['first_seq']} 至 {done['last_seq']}，"
                     f"{done['before']} 之前）；清理检查点 {done['checkpoint_id']} 已签署")


def register(app: typer.Typer) -> None:
    """Adds this domain's command group to `govshare`."""
    app.add_typer(audit_app, name="audit")
