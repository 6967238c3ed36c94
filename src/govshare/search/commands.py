"""CLI commands of search: `govshare search QUERY [--json] [filters]`, `govshare search --rebuild` and
`govshare index rebuild|status`. Registered on the main typer app by govshare.cli."""

from __future__ import annotations

import json

import typer

from govshare.cli_support import console, err_console, unit_of_work

index_app = typer.Typer(help="搜索索引", no_args_is_help=True)


def _index_dir():
    from govshare.config import get_settings

    return get_settings().resolved_index_dir


def rebuild_index() -> int:
    """Rebuilds the search index from the database, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from govshare.search import index as search_index

    index_dir = _index_dir()
    with unit_of_work() as session:
        total = search_index.count_published(session)
        with Progress(TextColumn("重建搜索索引"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            task = progress.add_task("rebuild", total=total)
            count = search_index.rebuild(session, index_dir, progress=lambda n: progress.advance(task, n))
    console.print(f"搜索索引已重建：{count} 条已发布目录（{index_dir}）")
    return count


def search_command(
    query: str = typer.Argument("", help="查询词，如 户籍、社会保险、税"),
    as_json: bool = typer.Option(False, "--json", help="以 JSON 输出"),
    rebuild: bool = typer.Option(False, "--rebuild", help="先从数据库重建搜索索引"),
    department: list[str] = typer.Option(None, "--department", help="提供部门编号，可多次指定"),
    level: list[str] = typer.Option(None, "--level", help="部门层级"),
    share_type: list[str] = typer.Option(None, "--share-type", help="共享类型"),
    data_format: list[str] = typer.Option(None, "--format", help="资源格式"),
    grade: list[str] = typer.Option(None, "--grade", help="分级"),
    theme: list[str] = typer.Option(None, "--theme", help="主题"),
    stale: bool = typer.Option(None, "--stale/--fresh", help="只看过期 / 未过期的目录"),
    quality_min: float = typer.Option(None, "--quality-min", help="数据质量总体得分不低于此值（0–100）"),
    order: str = typer.Option("relevance", "--order", help="排序：relevance（相关度）或 quality（质量得分）"),
    limit: int = typer.Option(20, "--limit", min=1, max=100),
    offset: int = typer.Option(0, "--offset", min=0),
) -> None:
    """Search the published catalog (中文全文检索)."""
    from rich.table import Table

    from govshare.catalog.vocab import Grade, ShareType
    from govshare.errors import DomainError
    from govshare.search import service

    if rebuild:
        rebuild_index()
        if not query and not any((department, level, share_type, data_format, grade, theme, stale is not None)):
            return
    try:
        filters = service.parse_filters(department=department, level=level, share_type=share_type,
                                        format=data_format, grade=grade, theme=theme, stale=stale,
                                        quality_min=quality_min)
        result = service.search(_index_dir(), query, filters, limit=limit, offset=offset, order=order)
    except DomainError as exc:
        field = f"（字段：{exc.field}）" if exc.field else ""
        err_console.print(f"[red]错误：{exc.message}{field}[/red]")
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, default=str))
        return
    if result["notice"]:
        err_console.print(f"[yellow]{result['notice']}[/yellow]")
    table = Table("ID", "资源代码", "名称", "提供部门", "共享类型", "分级", "得分", "质量", "牵头数源",
                  title=f"共 {result['total']} 条，用时 {result['took_ms']} 毫秒")
    for hit in result["hits"]:
        share = ShareType.parse(hit["share_type"])
        grade_ = Grade.parse(hit["grade"])
        table.add_row(str(hit["id"]), hit["resource_code"], hit["name"], hit["provider"],
                      share.label if share else hit["share_type"], grade_.label if grade_ else hit["grade"],
                      f"{hit['score']:.2f}", "—" if hit["quality"] is None else f"{hit['quality']:.1f}",
                      "是" if hit["is_lead_source"] else "")
    console.print(table)


@index_app.command("rebuild")
def index_rebuild() -> None:
    """Rebuild the search index from the database (所有已发布目录)."""
    rebuild_index()


@index_app.command("status")
def index_status() -> None:
    """Show whether the search index exists and how many entries it holds."""
    from govshare.search import service

    status = service.index_status(_index_dir())
    if status["exists"]:
        console.print(f"搜索索引：{status['documents']} 条目录（{status['path']}）")
    else:
        console.print(f"搜索索引不存在，请运行 govshare index rebuild（{status['path']}）")


def register(app: typer.Typer) -> None:
    """Adds `search` and `index` to the main CLI and installs the index's after_commit listener, so that
    catalog changes made by any command reach the index of the node's settings."""
    from govshare.search import index as search_index

    search_index.install_listener()
    app.command("search")(search_command)
    app.add_typer(index_app, name="index")
