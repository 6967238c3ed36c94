"""Routes of source connection (thin: every rule is in gateway.connect). A provider's catalog manager or
department reviewer connects a published entry to a SQL table, an uploaded file or an upstream API, reads
the profile and confirms the suggested grades."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from govshare.apidoc import errors
from govshare.authz import Actor
from govshare.catalog.schemas import _labelled
from govshare.catalog.vocab import Grade, PersonalInfo
from govshare.deps import SESSION, current_actor
from govshare.errors import ValidationFailed
from govshare.fields import MAX_ID, Id, IdPath, UtcDateTime
from govshare.gateway import connect

router = APIRouter(prefix="/api/v1/sources", tags=["sources"])


# A department user names one of its department's data connections (registered by the platform admin,
# /api/v1/connections); a URL or a path in the body is refused (extra fields are not accepted).
class SqlIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entry_id: Id
    connection: str = Field(min_length=1, max_length=100,
                            description="the department's data connection (its name or number)")
    table: str = Field(min_length=1, description="table or view, optionally schema.table")
    key_item: str = Field(min_length=1, description="the item a key lookup searches (field name or Chinese name)")
    column_map: dict[str, str] | None = Field(None, description="item (field or Chinese name) -> column")


class HttpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entry_id: Id
    connection: str = Field(min_length=1, max_length=100,
                            description="the department's HTTP data connection (its name or number)")
    path: str = Field("", max_length=500, description="path below the connection's base address; "
                                                     "GET base/path?{key_param}=key answers the record(s)")
    key_item: str = Field(min_length=1)
    key_param: str = "key"
    column_map: dict[str, str] = Field(description="item -> field of the API's answer (required: it cannot be listed)")
    probe_key: str | None = Field(None, description="a key to call the API with once, to check the fields")


class ItemChoice(BaseModel):
    """The provider's choice for one item (code or Chinese label); what it leaves out stays as it is."""

    grade: _labelled(Grade) | None = None
    personal_info: _labelled(PersonalInfo) | None = None


class ConfirmIn(BaseModel):
    accept_all: bool = False
    grades: dict[str, ItemChoice] = Field(default_factory=dict, description="item -> grade and personal_info")
    reason: str = ""


class SourceItemOut(BaseModel):
    name: str
    chinese_name: str
    column: str | None
    grade: str
    personal_info: str
    nulls: int | None
    distinct: int | None
    kind: str | None
    kind_label: str | None
    match_ratio: float | None
    suggested_grade: str | None
    suggested_personal_info: str | None
    suggested_masking: str | None
    is_key: bool


class SourceOut(BaseModel):
    entry_id: int
    entry_name: str
    resource_code: str
    provider_id: int
    provider_name: str
    kind: str
    kind_label: str
    status: str
    status_label: str
    location: str
    connection_name: str
    table_name: str
    key_param: str
    key_item: str
    column_map: dict[str, str]
    row_count: int | None
    loaded_at: UtcDateTime | None
    profile_rows: int | None
    sampled: bool
    sample_rows: int | None
    items: list[SourceItemOut]
    load_report: dict
    confirmed_at: UtcDateTime | None
    confirmed_by: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime


def _out(session: Session, source) -> dict:
    return connect.source_view(session, source)


def _json_map(text: str, field: str = "column_map") -> dict | None:
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed("column_map 应为 JSON 对象，如 {\"gmsfhm\": \"SFZH\"}", field=field) from exc
    if not isinstance(value, dict):
        raise ValidationFailed("column_map 应为 JSON 对象（信息项 → 列名）", field=field)
    return {str(k): str(v) for k, v in value.items()}


# Where a source's rows go: to requesters only through the gateway, under a grant (R09), masked by grade (R17).
SERVED = ("接入后，网关只按共享授权读取其中的数据（R09），并按信息项分级脱敏（R17）；"
          "画像给出的分级建议须由提供部门确认。")


@router.get("", response_model=list[SourceOut], summary="列出数据源")
def list_sources(actor: Actor = Depends(current_actor), session: Session = SESSION):
    """Sources the caller may see: its own department's; the competent authority's area; all for the
    platform administrator and the auditor."""
    return [_out(session, s) for s in connect.list_sources(session, actor)]


@router.get("/{entry_id}", response_model=SourceOut, summary="查看数据源")
def get_source(entry_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return _out(session, connect.get_source(session, actor, entry_id))


@router.post("/sql", response_model=SourceOut, summary="接入数据库表",
             description="把已发布目录接入（或重新接入）本部门数据连接（由平台管理员登记）中的表或视图，"
                         "并抽样画像；部门用户不能填写数据库地址（R18）。" + SERVED,
             responses=errors(404, 409))
def connect_sql(body: SqlIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    source = connect.connect_sql(session, actor, body.entry_id, body.connection, body.table, body.key_item,
                                 body.column_map)
    return _out(session, source)


@router.post("/file", response_model=SourceOut, summary="上传数据文件",
             description="把 CSV、XLSX 或 Parquet 文件载入平台托管存储并接入目录；有问题的行列在 "
                         "load_report.bad_rows 中并跳过。文件超过上传上限（GOVSHARE_MAX_SOURCE_UPLOAD_MB，"
                         "默认 1024 MB）时拒绝（413），什么也不保存。" + SERVED,
             responses=errors(404, 409, 413))
def connect_file(file: Annotated[UploadFile, File(description="CSV (UTF-8/GBK), XLSX or Parquet")],
                 entry_id: Annotated[int, Form(ge=1, le=MAX_ID, description="目录编号（正整数）")],
                 key_item: Annotated[str, Form()], column_map: Annotated[str, Form()] = "",
                 actor: Actor = Depends(current_actor), session: Session = SESSION):
    source = connect.connect_file(session, actor, entry_id, file.file, file.filename or "", key_item,
                                  _json_map(column_map))
    return _out(session, source)


@router.post("/http", response_model=SourceOut, summary="接入上游接口",
             description="把目录接入本部门上游接口数据连接基地址下的接口，由平台代需求部门调用"
                         "（只支持按主键查询和核验）。" + SERVED,
             responses=errors(404, 409))
def connect_http(body: HttpIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    source = connect.connect_http(session, actor, body.entry_id, body.connection, body.path, body.key_item,
                                  body.key_param, body.column_map, body.probe_key)
    return _out(session, source)


@router.post("/{entry_id}/confirm", response_model=SourceOut, summary="确认数据源画像",
             description="提供部门确认画像建议的分级和个人信息标识（accept_all）或逐项选择（R17）；只能维持或提高，"
                         "降低须提交目录修订。",
             responses=errors(409))
def confirm(entry_id: IdPath, body: ConfirmIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    grades = {name: choice.model_dump(exclude_none=True) for name, choice in body.grades.items()}
    source = connect.confirm_profile(session, actor, entry_id, grades, accept_all=body.accept_all, reason=body.reason)
    return _out(session, source)


@router.delete("/{entry_id}", response_model=SourceOut, summary="断开数据源",
               description="停止从该数据源提供目录的数据，须说明理由（reason，记入目录的办理记录）。仍有有效共享授权时拒绝（409）："
                           "停止共享服务须经主管部门批准（R11）。",
               responses=errors(409, 422))
def disconnect(entry_id: IdPath, reason: Annotated[str, Query(max_length=2000, description="断开理由（必填）")] = "",
               actor: Actor = Depends(current_actor), session: Session = SESSION):
    return _out(session, connect.disconnect(session, actor, entry_id, reason))
