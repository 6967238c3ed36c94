"""CLI commands of data quality (R14): `govshare quality rules|propose|confirm|add|remove|run|runs|reference`.
Registered on the main typer app by govshare.cli; `--user USERNAME` acts as that user (default: node operator)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import typer

from govshare.authz import actor_named
from govshare.cli_support import console, err_console, unit_of_work

quality_app = typer.Typer(help="数据质量（R14）：质量规则、质量检查、参照表", no_args_is_help=True)
USER = typer.Option(None, "--user", help="以该用户的身份操作（默认：节点运维）")


def _print_rules(rules) -> None:
    from rich.table import Table

    from govshare.quality import service

    table = Table("编号", "维度", "规则", "信息项", "来源", "状态", title="质量规则")
    for rule in rules:
        spec = service.spec_of(rule)
        origin = "平台建议：" + rule.basis if rule.origin == "proposed" else "部门设置"
        table.add_row(str(rule.id), spec.dimension.label, spec.label, rule.item or "—", origin,
                      "已确认" if rule.confirmed_at else "[yellow]待确认[/yellow]")
    console.print(table)


def _print_run(session, run) -> None:
    from rich.table import Table

    from govshare.quality import service
    from govshare.quality.rules import Dimension

    if run.status != "done":
        err_console.print(f"[red]质量检查未完成：{run.error}[/red]")
        return
    scores = "  ".join(f"{d.label} {_score(getattr(run, d.value))}" for d in Dimension)
    console.print(f"[bold]质量检查 {run.id}[/bold]（目录 {run.entry_id}）：总分 {_score(run.overall)}    {scores}")
    console.print(f"检查 {run.rows_checked:,} 行" + (f"；{run.sample_method}" if run.sampled else ""))
    table = Table("规则", "信息项", "检查", "不符合", "示例（已脱敏）")
    for result in service.samples_shown(session, run):
        table.add_row(result["label"], result["item"] or "—", f"{result['checked']:,}", f"{result['failed']:,}",
                      result.get("samples_hidden") or "、".join(result["samples"][:3]))
    console.print(table)


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


@quality_app.command("rules")
def rules(entry_id: int, user: str = USER) -> None:
    """列出目录的质量规则。"""
    from govshare.quality import service

    with unit_of_work() as session:
        _print_rules(service.list_rules(session, actor_named(session, user), entry_id))


@quality_app.command("propose")
def propose(entry_id: int, user: str = USER) -> None:
    """按信息项类型、名称和数据源画像生成规则建议（待确认）。"""
    from govshare.quality import service

    with unit_of_work() as session:
        added = service.propose_rules(session, actor_named(session, user), entry_id)
        console.print(f"新增 {len(added)} 条建议规则（确认后参与检查：govshare quality confirm {entry_id} --all）")
        _print_rules(added)


@quality_app.command("confirm")
def confirm(entry_id: int, rule_ids: list[int] = typer.Argument(None, help="规则编号"),
            all_proposed: bool = typer.Option(False, "--all", help="确认全部待确认的规则"),
            user: str = USER) -> None:
    """确认平台建议的规则。"""
    from govshare.quality import service

    with unit_of_work() as session:
        actor = actor_named(session, user)
        if all_proposed:
            rule_ids = [r.id for r in service.list_rules(session, actor, entry_id) if r.confirmed_at is None]
        if not rule_ids:
            err_console.print("[red]错误：请给出规则编号，或用 --all 确认全部待确认的规则（字段：rule_ids）[/red]")
            raise typer.Exit(2)
        _print_rules(service.confirm_rules(session, actor, entry_id, list(rule_ids)))


@quality_app.command("add")
def add(entry_id: int, kind: str = typer.Option(..., "--kind", help="required、format、enum、range、unique、"
                                                                    "reference、birth_matches_id、not_before、timeliness"),
        item: str = typer.Option(None, "--item", help="检查的信息项（字段名）"),
        params: str = typer.Option("{}", "--params", help='参数（JSON），如 {"format": "id_number"}'),
        user: str = USER) -> None:
    """为本部门目录设置一条质量规则（立即生效）。"""
    from govshare.errors import ValidationFailed
    from govshare.quality import service

    with unit_of_work() as session:
        try:
            parsed = json.loads(params)
        except json.JSONDecodeError as exc:
            raise ValidationFailed(f"参数不是有效的 JSON：{exc.msg}", field="params") from exc
        rule = service.declare_rule(session, actor_named(session, user), entry_id,
                                    {"kind": kind, "item": item, "params": parsed})
        _print_rules([rule])


@quality_app.command("remove")
def remove(entry_id: int, rule_id: int, user: str = USER) -> None:
    """删除本部门目录的一条质量规则。"""
    from govshare.quality import service

    with unit_of_work() as session:
        service.remove_rule(session, actor_named(session, user), entry_id, rule_id)
        console.print(f"已删除规则 {rule_id}")


@quality_app.command("run")
def run(entry_id: int, user: str = USER) -> None:
    """按已确认的规则检查目录的数据源。"""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from govshare.quality import service

    with unit_of_work() as session:
        actor = actor_named(session, user)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=err_console, transient=True) as progress:
            progress.add_task(f"检查目录 {entry_id} 的数据质量（一次扫描数据源）", total=None)
            result = service.run_quality(session, actor, entry_id)
        _print_run(session, result)


@quality_app.command("runs")
def runs(entry_id: int, user: str = USER) -> None:
    """列出目录最近的质量检查。"""
    from rich.table import Table

    from govshare.quality import service

    with unit_of_work() as session:
        table = Table("编号", "时间", "方式", "行数", "总分", "完整性", "准确性", "一致性", "及时性")
        for r in service.list_runs(session, actor_named(session, user), entry_id):
            table.add_row(str(r.id), f"{r.started_at:%Y-%m-%d %H:%M}", r.trigger, f"{r.rows_checked:,}",
                          *(_score(getattr(r, d)) for d in ("overall", "completeness", "accuracy", "consistency",
                                                             "timeliness")))
        console.print(table)


@quality_app.command("reference")
def reference(name: str, file: Path = typer.Option(..., "--file", exists=True, dir_okay=False, help="CSV 文件"),
              column: str = typer.Option("code", "--column", help="代码所在的列"),
              label: str = typer.Option(..., "--label", help="中文名称，如 行政区划代码（县级）"),
              source: str = typer.Option("", "--source", help="来源与时点"),
              user: str = USER) -> None:
    """导入或替换一张参照表（平台管理员），如行政区划代码。"""
    from govshare.errors import ValidationFailed
    from govshare.quality import service

    with unit_of_work() as session:
        with file.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            if column not in (reader.fieldnames or []):
                present = "、".join(reader.fieldnames or [])
                raise ValidationFailed(f"CSV 没有列 {column!r}（有：{present}）", field="column")
            codes = [row[column] for row in reader]
        table = service.import_reference(session, actor_named(session, user), name, label, codes, source)
        console.print(f"参照表 {table.name}（{table.label}）：{len(table.codes):,} 个代码")


def register(app: typer.Typer) -> None:
    app.add_typer(quality_app, name="quality")
