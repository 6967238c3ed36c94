"""Routes of source connection (thin: every rule is in gateway.connect). A provider's catalog manager or
department reviewer connects a published entry to a SQL table, an uploaded file or an upstream API, reads
the profile and confirms the suggested grades."""

from __future__ import annotations

import json
from datetime import datetime

from fastapi import APIRouter, Depends, File, Form, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.deps import SESSION, current_actor
from govshare.errors import ValidationFailed
from govshare.gateway import connect

router = APIRouter(prefix="/api/v1/sources", tags=["sources"])


class SqlIn(BaseModel):
    entry_id: int
    url: str = Field(min_length=1, description="SQLAlchemy URL of the provider's database (stored encrypted)")
    table: str = Field(min_length=1, description="table or view, optionally schema.table")
    key_item: str = Field(min_length=1, description="the item a key lookup searches (field name or Chinese name)")
    column_map: dict[str, str] | None = Field(None, description="item (field or Chinese name) -> column")


class HttpIn(BaseModel):
    entry_id: int
    url: str = Field(min_length=1, description="GET url?{key_param}=key answers the record(s)")
    key_item: str = Field(min_length=1)
    key_param: str = "key"
    column_map: dict[str, str] = Field(description="item -> field of the API's answer (required: it cannot be listed)")
    probe_key: str | None = Field(None, description="a key to call the API with once, to check the fields")


class ItemChoice(BaseModel):
    grade: str | None = None
    personal_info: str | None = None


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
    table_name: str
    key_param: str
    key_item: str
    column_map: dict[str, str]
    row_count: int | None
    loaded_at: datetime | None
    profile_rows: int | None
    sampled: bool
    sample_rows: int | None
    items: list[SourceItemOut]
    load_report: dict
    confirmed_at: datetime | None
    confirmed_by: str | None
    created_at: datetime
    updated_at: datetime


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


@router.get("", response_model=list[SourceOut])
def list_sources(actor: Actor = Depends(current_actor), session: Session = SESSION):
    """Sources the caller may see: its own department's; the competent authority's area; all for the
    platform administrator and the auditor."""
    return [_out(session, s) for s in connect.list_sources(session, actor)]


@router.get("/{entry_id}", response_model=SourceOut)
def get_source(entry_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return _out(session, connect.get_source(session, actor, entry_id))


@router.post("/sql", response_model=SourceOut)
def connect_sql(body: SqlIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    """Connects (or reconnects) the entry to a table of the provider's database; profiles a sample."""
    source = connect.connect_sql(session, actor, body.entry_id, body.url, body.table, body.key_item, body.column_map)
    return _out(session, source)


@router.post("/file", response_model=SourceOut)
def connect_file(file: UploadFile = File(..., description="CSV (UTF-8/GBK), XLSX or Parquet"),
                 entry_id: int = Form(...), key_item: str = Form(...), column_map: str = Form(""),
                 actor: Actor = Depends(current_actor), session: Session = SESSION):
    """Loads the file into the managed store; bad rows are listed in `load_report.bad_rows` and skipped."""
    source = connect.connect_file(session, actor, entry_id, file.file, file.filename or "", key_item,
                                  _json_map(column_map))
    return _out(session, source)


@router.post("/http", response_model=SourceOut)
def connect_http(body: HttpIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    """Connects the entry to an upstream API called on the requester's behalf (lookups and verification)."""
    source = connect.connect_http(session, actor, body.entry_id, body.url, body.key_item, body.key_param,
                                  body.column_map, body.probe_key)
    return _out(session, source)


@router.post("/{entry_id}/confirm", response_model=SourceOut)
def confirm(entry_id: int, body: ConfirmIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    """Confirms the profile: suggested grades (`accept_all`) and/or a choice per item; may only keep or raise."""
    grades = {name: choice.model_dump(exclude_none=True) for name, choice in body.grades.items()}
    source = connect.confirm_profile(session, actor, entry_id, grades, accept_all=body.accept_all, reason=body.reason)
    return _out(session, source)


@router.delete("/{entry_id}", response_model=SourceOut)
def disconnect(entry_id: int, actor: Actor = Depends(current_actor), session: Session = SESSION):
    """Stops serving the entry from its source (refused while grants are in force: that is a service stop)."""
    return _out(session, connect.disconnect(session, actor, entry_id))
