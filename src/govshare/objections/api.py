"""Routes of objections (thin: every rule is in objections.service)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Query, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from govshare.apidoc import errors, file_response
from govshare.authz import Actor
from govshare.catalog.vocab import code_or_label
from govshare.deps import SESSION, current_actor
from govshare.fields import IdPath, IdQuery, Offset, limit_query
from govshare.objections import service, views
from govshare.objections.evidence import ACCEPTED, EVIDENCE_HEADERS
from govshare.objections.schemas import AnswerIn, ObjectionIn, ObjectionOut

router = APIRouter(prefix="/api/v1/objections", tags=["objections"])
StatusCodeOrLabel = code_or_label(service.ObjectionStatus)


@router.post("", response_model=ObjectionOut, status_code=201, summary="提出数据核实（校核纠错）",
             responses=errors(403, 404, 409),
             description="获得共享授权的需求部门对其数据中的具体记录提出核实（R13）：主键、有误的信息项、认为正确的取值和依据；"
                         "提供部门须在 GOVSHARE_OBJECTION_WORKING_DAYS 个工作日内核实答复。核实期间该记录照常提供，"
                         "网关响应带 under_verification 标记。")
def file_objection(body: ObjectionIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    objection = service.file_objection(session, actor, body.grant_id, body.key, body.items, body.claimed,
                                       body.evidence)
    return views.view(session, objection)


@router.get("", response_model=list[ObjectionOut], summary="数据核实列表",
            description="调用者可读的核实请求：本部门提出的、针对本部门数据的、转交本部门的；主管部门看辖区内的。最新的在前。")
def list_objections(
    box: Literal["outgoing", "incoming"] | None = Query(  # in the order of the sharing lists' box
        None, description="outgoing 本部门提出的；incoming 待本部门核实的"),
    status: StatusCodeOrLabel | None = Query(None, description=f"状态：{service.ObjectionStatus.choices()}"),
    entry_id: IdQuery | None = None,
    limit: Annotated[int, limit_query(500)] = 50,
    offset: Offset = 0,
    actor: Actor = Depends(current_actor),
    session: Session = SESSION,
):
    found = service.list_objections(session, actor, status=status, box=box, entry_id=entry_id, limit=limit,
                                    offset=offset)
    return views.views(session, found)


@router.get("/{objection_id}", response_model=ObjectionOut, summary="查看数据核实")
def get_objection(objection_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    objection = service.get_objection(session, actor, objection_id)
    return views.view(session, objection, history=service.history(session, actor, objection_id))


@router.post("/{objection_id}/evidence", response_model=ObjectionOut, summary="上传核实依据文件",
             responses=errors(403, 404, 409, 413, 415),
             description="提出部门为未答复的核实请求上传一个依据文件（R13）：只收 PDF、JPEG、PNG"
                         "（按内容判断，扩展名须一致），不超过 GOVSHARE_OBJECTION_EVIDENCE_MAX_MB（默认 10 MB）；"
                         "过大答 413，类型不符答 415，什么也不保存。")
def upload_evidence(objection_id: IdPath, file: Annotated[UploadFile, File(description="PDF、JPEG 或 PNG")],
                    actor: Actor = Depends(current_actor), session: Session = SESSION):
    objection = service.attach_evidence(session, actor, objection_id, file.filename or "", file.file)
    return views.view(session, objection)


@router.get("/{objection_id}/evidence", summary="下载核实依据文件", response_class=FileResponse,
            responses={**file_response({media: "依据文件" for media in ACCEPTED}, "依据文件"), **errors(404)})
def download_evidence(objection_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    objection, path = service.evidence_file(session, actor, objection_id)
    return FileResponse(path, media_type=objection.evidence_media_type, filename=objection.evidence_filename,
                        headers=EVIDENCE_HEADERS)


@router.post("/{objection_id}/answer", response_model=ObjectionOut, summary="答复数据核实",
             responses=errors(403, 404, 409),
             description="提供部门审核人员或目录管理员答复核实请求（R13）：已更正、核实无误（说明理由）或转牵头数源部门（R06）；"
                         "文件数据源可在答复“已更正”时直接更正托管数据（apply_correction）。"
                         "每个请求答复一次，已答复答 409；各方收到通知。")
def answer_objection(objection_id: IdPath, body: AnswerIn, actor: Actor = Depends(current_actor),
                     session: Session = SESSION):
    objection = service.answer_objection(session, actor, objection_id, body.answer, body.reason, body.forward_to,
                                         body.apply_correction)
    return views.view(session, objection)
