"""CLI commands of objections (校核纠错, R13): `govshare objection file|attach|list|show|answer|evidence`.
Registered on the main typer app by govshare.cli; `--user USERNAME` acts as that user (default: node operator)."""

from __future__ import annotations

from pathlib import Path

import typer

from govshare.authz import actor_named
from govshare.cli_support import console, unit_of_work

objection_app = typer.Typer(help="数据核实（校核纠错，R13）", no_args_is_help=True)
USER = typer.Option(None, "--user", help="以该用户的身份操作（默认：节点运维）")


def _print(out, zone: str) -> None:
    """One objection: its record, deadline, evidence, answer and history (times in the node's zone)."""
    from zoneinfo import ZoneInfo

    from govshare.objections.views import ACTIONS

    console.print(f"[bold]核实请求 {out.id}：{out.entry_name}（{out.resource_code}）[/bold]  状态：{out.status_label}"
                  + ("  [red]已逾期[/red]" if out.overdue else ""))
    console.print(f"提出部门：{out.requester}    提供部门：{out.provider}    共享授权：{out.grant_id}")
    named = "、".join(out.item_names.get(item, item) for item in out.items)
    console.print(f"记录主键：{out.record_key}    有误的信息项：{named}")
    for item, value in out.claimed.items():
        console.print(f"  认为正确的{out.item_names.get(item, item)}：{value}")
    console.print(f"依据：{out.evidence}")
    if out.evidence_file:
        console.print(f"依据文件：{out.evidence_file.filename}（{out.evidence_file.media_type}，"
                      f"{out.evidence_file.size} 字节）")
    console.print(f"答复期限：{out.due}" + ("（按周一至周五估算）" if out.due_estimated else ""))
    if out.answer:
        console.print(f"答复：{out.answer}" + (f"（转交 {out.forwarded_to}）" if out.forwarded_to else ""))
    for event in out.history:
        at = event.created_at.astimezone(ZoneInfo(zone))
        console.print(f"  {at:%Y-%m-%d %H:%M}  {event.actor or '系统'}  {ACTIONS.get(event.action, event.action)}  "
                      f"{event.reason}")


def _act(username: str | None, action) -> None:
    """Runs `action(session, actor) -> Objection` in one unit of work and prints the result with its history."""
    from govshare.config import settings_of
    from govshare.objections import service, views

    with unit_of_work() as session:
        actor = actor_named(session, username)
        objection = action(session, actor)
        _print(views.view(session, objection, history=service.history(session, actor, objection.id)),
               settings_of(session).timezone)


def _claimed(pairs: list[str] | None) -> dict[str, str]:
    claimed = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(f"应为 信息项=正确取值，收到 {pair!r}", param_hint="--claimed")
        claimed[name.strip()] = value
    return claimed


@objection_app.command("file")
def objection_file(
    grant_id: int = typer.Option(..., "--grant", help="本部门获得的共享授权编号"),
    key: str = typer.Option(..., "--key", help="有误记录的主键值"),
    items: list[str] = typer.Option(..., "--item", help="认为有误的信息项名（可重复）"),
    claimed: list[str] = typer.Option(None, "--claimed", help="信息项=认为正确的取值（可重复）"),
    evidence: str = typer.Option(..., "--evidence", help="依据说明，如死亡医学证明编号"),
    attach: Path = typer.Option(None, "--attach", exists=True, dir_okay=False, help="依据文件（PDF、JPEG 或 PNG）"),
    user: str = USER,
) -> None:
    """对获授权数据中的一条记录提出核实（R13）；可同时附上依据文件。"""
    from govshare.objections import service

    def action(session, actor):
        objection = service.file_objection(session, actor, grant_id, key, items, _claimed(claimed), evidence)
        if attach is not None:
            with attach.open("rb") as stream:
                service.attach_evidence(session, actor, objection.id, attach.name, stream)
        return objection

    _act(user, action)


@objection_app.command("attach")
def objection_attach(objection_id: int, path: Path = typer.Argument(..., exists=True, dir_okay=False),
                     user: str = USER) -> None:
    """为未答复的核实请求上传依据文件（PDF、JPEG 或 PNG，大小有上限）。"""
    from govshare.objections import service

    def action(session, actor):
        with path.open("rb") as stream:
            return service.attach_evidence(session, actor, objection_id, path.name, stream)

    _act(user, action)


@objection_app.command("list")
def objection_list(
    box: str = typer.Option(None, "--box", help="incoming 待本部门核实的；outgoing 本部门提出的"),
    status: str = typer.Option(None, "--status", help="open、corrected、confirmed、forwarded"),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    user: str = USER,
) -> None:
    """列出可见的核实请求。"""
    from rich.table import Table

    from govshare.objections import service, views

    with unit_of_work() as session:
        actor = actor_named(session, username=user)
        found = views.views(session, service.list_objections(session, actor, status=status, box=box, limit=limit))
    table = Table("编号", "目录", "记录主键", "提出部门", "提供部门", "状态", "答复期限", title="数据核实")
    for out in found:
        table.add_row(str(out.id), out.entry_name, out.record_key, out.requester, out.provider,
                      out.status_label + ("（逾期）" if out.overdue else ""), str(out.due))
    console.print(table if found else "没有核实请求。")


@objection_app.command("show")
def objection_show(objection_id: int, user: str = USER) -> None:
    """查看核实请求及其办理记录。"""
    from govshare.objections import service

    _act(user, lambda s, a: service.get_objection(s, a, objection_id))


@objection_app.command("answer")
def objection_answer(
    objection_id: int,
    answer: str = typer.Option(..., "--answer", help="corrected 已更正；confirmed 核实无误；forwarded 转牵头数源部门"),
    reason: str = typer.Option(..., "--reason", help="核实情况说明"),
    forward_to: int = typer.Option(None, "--forward-to", help="转交的牵头数源部门编号"),
    apply_correction: bool = typer.Option(False, "--apply", help="在平台托管的数据文件中按认为正确的取值更正该记录"),
    user: str = USER,
) -> None:
    """提供部门答复核实请求。"""
    from govshare.objections import service

    _act(user, lambda s, a: service.answer_objection(s, a, objection_id, answer, reason, forward_to,
                                                     apply_correction))


@objection_app.command("evidence")
def objection_evidence(objection_id: int, output: Path = typer.Option(..., "--output", "-o", help="保存到的文件"),
                       user: str = USER) -> None:
    """下载核实请求的依据文件。"""
    import shutil

    from govshare.objections import service

    with unit_of_work() as session:
        objection, path = service.evidence_file(session, actor_named(session, user), objection_id)
        shutil.copyfile(path, output)
        console.print(f"已保存 {objection.evidence_filename} 到 {output}")


def register(app: typer.Typer) -> None:
    """Adds `objection` to `govshare`."""
    app.add_typer(objection_app, name="objection")
