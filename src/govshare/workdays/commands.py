"""CLI commands of the working-day calendar (`govshare calendar …`); registered on the main typer app by
govshare.cli."""

from __future__ import annotations

from datetime import date

import typer

from govshare.authz import actor_named
from govshare.cli_support import console, unit_of_work

calendar_app = typer.Typer(help="工作日日历：节假日表（优先于 chinese-calendar）与期限计算（R07）",
                           no_args_is_help=True)

USER_OPTION = typer.Option(None, "--user", help="以该用户身份操作（默认：节点运维）")


def _day(value: str, field: str = "day") -> date:
    from govshare.errors import ValidationFailed

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"日期应为 YYYY-MM-DD：{value}", field=field) from None


_actor = actor_named  # the user of --user, or the node operator


@calendar_app.command("import")
def calendar_import(
    file: str = typer.Argument(..., help="国务院办公厅节假日安排通知的文本文件，或 CSV（日期,放假/上班,名称）"),
    year: int = typer.Option(None, "--year", help="通知年份（文本中没有标题时必需）"),
    fmt: str = typer.Option(None, "--format", help="notice 或 csv（默认按扩展名：.csv 为 csv）"),
    user: str = USER_OPTION,
) -> None:
    """导入节假日安排：放假日与调休上班日写入节假日表。"""
    from pathlib import Path

    from rich.markup import escape

    from govshare.workdays import service

    path = Path(file)
    fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "notice")
    with unit_of_work() as session:
        text = _read(path)
        result = service.import_text(session, _actor(session, user), text, fmt, year, source="")
    holidays = sum(not d.is_workday for d in result.days)
    console.print(f"已导入“{escape(result.source)}”：放假 {holidays} 天，上班 {len(result.days) - holidays} 天；"
                  f"新增 {result.created}，更新 {result.updated}，未变 {result.unchanged}")


def _read(path) -> str:
    from govshare.errors import ValidationFailed

    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"无法读取文件（需 UTF-8 文本）：{path}：{exc}", field="file") from None


@calendar_app.command("list")
def calendar_list(year: int = typer.Option(None, "--year", help="只列出该年")) -> None:
    """列出节假日表。"""
    from rich.markup import escape
    from rich.table import Table

    from govshare.workdays import service

    with unit_of_work() as session:
        rows = [service.day_view(session, r) for r in service.list_days(session, year)]
        status = service.year_status(session, year) if year else None
    table = Table("日期", "星期", "类型", "名称", "来源", "设置人", title=f"节假日表（{len(rows)} 天）")
    for r in rows:
        table.add_row(r["day"].isoformat(), "一二三四五六日"[r["day"].weekday()], r["kind"], escape(r["name"]),
                      escape(r["source"]), r["created_by"])
    console.print(table)
    if status:
        console.print(f"{year}年的节假日依据：{status.label}")
        if status.warning:
            console.print(f"[bold yellow]注意：{status.warning}[/bold yellow]")


@calendar_app.command("set")
def calendar_set(
    day: str = typer.Argument(..., help="YYYY-MM-DD"),
    holiday: bool = typer.Option(..., "--holiday/--workday", help="放假 / 上班"),
    name: str = typer.Option("", "--name", help="如 国庆节"),
    source: str = typer.Option("", "--source", help="依据，如通知文号"),
    user: str = USER_OPTION,
) -> None:
    """把某日设为放假或上班（优先于 chinese-calendar）。"""
    from rich.markup import escape

    from govshare.workdays import service

    with unit_of_work() as session:
        row = service.set_day(session, _actor(session, user), _day(day), not holiday, name, source)
        console.print(f"已设置 {row.day}：{'上班' if row.is_workday else '放假'} {escape(row.name)}")


@calendar_app.command("remove")
def calendar_remove(day: str = typer.Argument(..., help="YYYY-MM-DD"), user: str = USER_OPTION) -> None:
    """从节假日表删除某日（恢复按 chinese-calendar 或周一至周五计算）。"""
    from govshare.workdays import service

    with unit_of_work() as session:
        service.remove_day(session, _actor(session, user), _day(day))
    console.print(f"已删除 {day}")


@calendar_app.command("deadline")
def calendar_deadline(start: str = typer.Argument(..., help="起算日 YYYY-MM-DD（当日不计）"),
                      days: int = typer.Argument(..., help="工作日数")) -> None:
    """计算起算日之后第 N 个工作日。"""
    from govshare.workdays import service

    with unit_of_work() as session:
        result = service.preview_deadline(session, _day(start, "start"), days)
    weekday = "一二三四五六日"[result.due.weekday()]
    console.print(f"{start} 起 {days} 个工作日：{result.due.isoformat()}（周{weekday}）"
                  + ("（估算）" if result.estimated else ""))
    if result.estimated:
        console.print(f"[bold yellow]注意：{result.warning}[/bold yellow]")


@calendar_app.command("year")
def calendar_year(year: int) -> None:
    """某年的节假日依据：管理员节假日表、chinese-calendar，或未知（估算）。"""
    from govshare.workdays import service

    with unit_of_work() as session:
        status = service.year_status(session, year)
    console.print(f"{year}年：{status.label}（节假日表中 {status.admin_days} 天；"
                  f"chinese-calendar {'已' if status.package_known else '未'}收录）")
    if status.warning:
        console.print(f"[bold yellow]注意：{status.warning}[/bold yellow]")


def register(app: typer.Typer) -> None:
    """Adds `govshare calendar …`."""
    app.add_typer(calendar_app, name="calendar")
