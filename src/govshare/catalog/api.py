"""Catalog routes (thin: every rule is in catalog.service)."""

from __future__ import annotations

import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from govshare.apidoc import errors, file_response
from govshare.authz import Actor
from govshare.catalog import service
from govshare.catalog.schemas import (
    EntryIn,
    EntryOut,
    EventOut,
    ImportReportOut,
    ItemOut,
    ItemsChangeOut,
    ItemsIn,
    ReasonIn,
    RevisionIn,
    RevisionOut,
)
from govshare.catalog.vocab import EntryStatus, code_or_label
from govshare.deps import SESSION, current_actor
from govshare.fields import IdPath, IdQuery, Offset, limit_query
from govshare.orgs.models import Level

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])

MAX_VERSION = 2**31 - 1  # versions are 32-bit integers on both databases
Version = Annotated[int, Path(ge=1, le=MAX_VERSION, description="已发布的版本号（从 1 起）")]
StatusCodeOrLabel = code_or_label(EntryStatus)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/entries", response_model=list[EntryOut], summary="目录列表",
            description="调用者可读的目录（已发布的目录人人可读；草稿只有本部门可读），按编号排序。")
def list_entries(
    status: EntryStatus | None = Query(None, description=f"目录状态：{EntryStatus.choices()}"),
    provider_id: IdQuery | None = None,
    stale: bool | None = Query(None, description="true 只看过期目录（R05），false 只看未过期的"),
    limit: Annotated[int, limit_query(500)] = 50,
    offset: Offset = 0,
    actor: Actor = Depends(current_actor),
    session: Session = SESSION,
):
    entries = service.list_entries(session, actor, status=status, provider_id=provider_id, stale=stale,
                                   limit=limit, offset=offset)
    return [service.to_out(e) for e in entries]


@router.post("/entries", response_model=EntryOut, status_code=201, summary="编制目录",
             description="部门目录管理员在本部门目录中新建草稿（R02）：元数据按 R03 校验，共享类型按 R04，"
                         "分级按 R17；涉密数据不得编目（R01）。")
def create_entry(body: EntryIn, provider_id: IdQuery | None = None, actor: Actor = Depends(current_actor),
                 session: Session = SESSION):
    return service.to_out(service.create_entry(session, actor, body, provider_id=provider_id))


@router.get("/entries/{entry_id}", response_model=EntryOut, summary="查看目录")
def get_entry(entry_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.to_out(service.get_entry(session, actor, entry_id))


@router.put("/entries/{entry_id}", response_model=EntryOut, summary="修改目录草稿", responses=errors(409),
            description="修改草稿或被退回的目录（R02、R03、R04）；已发布的目录只能通过修订变更（R05），答 409。")
def update_entry(entry_id: IdPath, body: EntryIn, actor: Actor = Depends(current_actor),
                 session: Session = SESSION):
    return service.to_out(service.update_entry(session, actor, entry_id, body))


@router.post("/entries/{entry_id}/submit", response_model=EntryOut, summary="提交目录审核", responses=errors(409),
             description="把草稿或被退回的目录提交主管部门审核（R02）；至少需要一个信息项。")
def submit_entry(entry_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.to_out(service.submit_entry(session, actor, entry_id))


@router.post("/entries/{entry_id}/publish", response_model=EntryOut, summary="审核发布目录", responses=errors(409),
             description="主管部门审核通过待审核的目录，发布为第 1 版（R02 一本账；R05 保留每个版本）。")
def publish_entry(entry_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return service.to_out(service.publish_entry(session, actor, entry_id))


@router.post("/entries/{entry_id}/return", response_model=EntryOut, summary="退回目录", responses=errors(409),
             description="主管部门退回待审核的目录，须说明理由（R02）；提供部门修改后可再次提交。")
def return_entry(entry_id: IdPath, body: ReasonIn, actor: Actor = Depends(current_actor),
                 session: Session = SESSION):
    return service.to_out(service.return_entry(session, actor, entry_id, body.reason))


@router.post("/entries/{entry_id}/data-updated", response_model=EntryOut, summary="确认数据已更新",
             description="提供部门确认目录所指的数据已按更新周期更新，清除过期标记（R05）。")
def mark_data_updated(entry_id: IdPath, actor: Actor = Depends(current_actor),
                      session: Session = SESSION):
    return service.to_out(service.mark_data_updated(session, actor, entry_id))


@router.get("/entries/{entry_id}/history", response_model=list[EventOut], summary="目录变更记录",
            description="目录的每一次操作：谁、何时、为什么（R05）。")
def entry_history(entry_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return [
        EventOut(id=e.id, action=e.action, version=e.version, reason=e.reason,
                 actor=e.actor.username if e.actor else "system", created_at=e.created_at)
        for e in service.history(session, actor, entry_id)
    ]


@router.get("/entries/{entry_id}/versions/{version}", summary="查看目录的已发布版本",
            description="某个已发布版本的完整内容（R05：每个版本都可读回）。")
def entry_version(entry_id: IdPath, version: Version, actor: Actor = Depends(current_actor),
                  session: Session = SESSION) -> dict:
    return service.published_version(session, actor, entry_id, version)


@router.get("/entries/{entry_id}/revisions", response_model=list[RevisionOut], summary="目录修订列表",
            description="目录的每个修订；因法律法规或职责变化的修订带有发布期限、剩余工作日和逾期标记（R05）。")
def list_revisions(entry_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return [service.revision_out(session, r) for r in service.list_revisions(session, actor, entry_id)]


@router.post("/entries/{entry_id}/items", response_model=ItemsChangeOut, summary="添加或修改信息项",
             responses=errors(409),
             description="向目录添加信息项，或按字段名修改已有信息项（其余信息项不变）。草稿或退回的目录直接修改；"
                         "已发布目录形成修订，经主管部门批准后生效（R05）；待审核的目录答 409。"
                         "导入的目录没有信息项时，先用本接口补充，才能接入数据源。")
def put_items(entry_id: IdPath, body: ItemsIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    change = service.put_items(session, actor, entry_id, body.items, body.reason)
    session.flush()
    return ItemsChangeOut(applied="revision" if change.revision else "updated", entry_id=change.entry.id,
                          revision_id=change.revision.id if change.revision else None,
                          items=[ItemOut.model_validate(item) for item in change.entry.items])


@router.post("/entries/{entry_id}/revisions", response_model=RevisionOut, status_code=201, summary="提出目录修订",
             responses=errors(409),
             description="已发布目录的变更以修订提出，须说明原因，经主管部门批准成为下一版本（R05）；"
                         "因法律法规或职责变化的修订须写明变化的法律法规或职责及其生效日期，"
                         "须在生效日期后规定的工作日内（GOVSHARE_LAW_CHANGE_WORKING_DAYS）发布（R05）。"
                         "目录未发布或已有未完成的修订答 409。")
def propose_revision(entry_id: IdPath, body: RevisionIn, actor: Actor = Depends(current_actor),
                     session: Session = SESSION):
    revision = service.propose_revision(session, actor, entry_id, body.entry, body.reason,
                                        due_to_law_change=body.due_to_law_change,
                                        law_change_basis=body.law_change_basis,
                                        law_effective_date=body.law_effective_date)
    return service.revision_out(session, revision)


@router.post("/revisions/{revision_id}/approve", response_model=EntryOut, summary="批准目录修订",
             responses=errors(409),
             description="主管部门批准修订：成为目录的下一个已发布版本，旧版本保留（R05）；"
                         "因法律法规或职责变化的修订同时记录是否在期限内发布（R05）。"
                         "修订不是待审核状态或目录已有更新的版本答 409。")
def approve_revision(revision_id: IdPath, actor: Actor = Depends(current_actor),
                     session: Session = SESSION):
    return service.to_out(service.approve_revision(session, actor, revision_id))


@router.post("/revisions/{revision_id}/return", response_model=RevisionOut, summary="退回目录修订",
             responses=errors(409),
             description="主管部门退回修订，须说明理由（R05）；已发布的版本不变。")
def return_revision(revision_id: IdPath, body: ReasonIn, actor: Actor = Depends(current_actor),
                    session: Session = SESSION):
    return service.revision_out(session, service.return_revision(session, actor, revision_id, body.reason))


@router.post("/import", response_model=ImportReportOut, response_model_exclude_none=True, summary="导入目录文件",
             responses=errors(413),
             description="导入 .xlsx、.csv 或 .json 目录文件，每行按编目规则校验（R01、R03、R04、R17）："
                         "好的行建为草稿，被拒绝的行在报告中给出行号、列和规则；同一文件再次导入不会重复建目录。"
                         "文件名、大小（64 MB）、表头列数和 JSON 嵌套层数不符合要求时整个文件被拒绝，什么也不保存。")
def import_catalog(
    file: UploadFile = File(..., description="目录文件：.xlsx、.csv 或 .json"),
    items: UploadFile | None = File(None, description="CSV 导入时的信息项文件（NAME.items.csv）"),
    mapping: str | None = Form(None, description='列映射 JSON：{"目标字段": "源列名"}'),
    publish: bool = Form(False, description="按已发布目录导入（仅节点运维）"),
    region_code: str | None = Form(None, description="新建提供部门的行政区划代码，默认为本部门的"),
    level: Level | None = Form(None, description="新建提供部门的层级，默认由行政区划代码推定"),
    default_provider: str | None = Form(None, description="提供部门为空的行使用该部门"),
    actor: Actor = Depends(current_actor),
    session: Session = SESSION,
) -> dict:
    from govshare.catalog import importer

    report = importer.import_upload(
        session, actor, file.filename, file.file, items_name=items.filename if items else None,
        items_stream=items.file if items else None, mapping_json=mapping, publish=publish,
        region_code=region_code, level=level, default_provider=default_provider)
    return report.to_dict()


@router.get("/export", summary="导出目录", response_class=Response, responses=file_response({
    XLSX: "目录和信息项两个工作表", "text/csv": "目录或信息项（part），UTF-8 带 BOM"}),
    description="调用者可读的目录，按标准格式导出（导入可读回）。")
def export_catalog(
    format: Literal["xlsx", "csv"] = Query("xlsx", description="文件格式"),
    status: StatusCodeOrLabel | None = Query(
        None, description=f"只导出该状态的目录：{EntryStatus.choices()}（代码或中文均可）"),
    part: Literal["entries", "items"] = Query("entries", description="CSV：entries 目录 或 items 信息项"),
    actor: Actor = Depends(current_actor),
    session: Session = SESSION,
) -> Response:
    from govshare.catalog import exporter

    status = exporter.parse_status(status)
    if format == "xlsx":
        buffer = io.BytesIO()
        exporter.export_xlsx(session, actor, buffer, status=status)
        return Response(buffer.getvalue(), headers={"Content-Disposition": 'attachment; filename="catalog.xlsx"'},
                        media_type=XLSX)
    entries_out, items_out = io.StringIO(), io.StringIO()
    exporter.export_csv(session, actor, entries_out, items_out, status=status)
    filename = "catalog.csv" if part == "entries" else "catalog.items.csv"
    text = (entries_out if part == "entries" else items_out).getvalue()
    return Response(("\ufeff" + text).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
