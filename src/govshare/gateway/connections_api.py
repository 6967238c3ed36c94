"""Routes of data connections (thin: every rule is in gateway.connections). The platform admin registers a
department's databases and upstream API base addresses; a department's users list their own to choose one
when they connect an entry (/api/v1/sources/sql, /api/v1/sources/http)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from govshare.apidoc import errors
from govshare.authz import Actor
from govshare.deps import SESSION, current_actor
from govshare.fields import Id, IdPath, UtcDateTime
from govshare.gateway import connections

router = APIRouter(prefix="/api/v1/connections", tags=["sources"])


class ConnectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    department_id: Id
    name: str = Field(min_length=1, max_length=connections.MAX_NAME)
    kind: Literal["sql", "http"]
    url: str = Field(min_length=1, max_length=2000, description="SQLAlchemy URL (sql) or base address (http); "
                                                                "stored encrypted, never shown with its password")
    allowed: list[str] = Field(default_factory=list, max_length=200,
                               description="tables (`table`, `schema.table`, `schema.*`) or path prefixes the "
                                           "department may use; empty: all")
    internal: bool = Field(False, description="http only: the base address is an internal service on a private "
                                              "network (else such addresses are refused)")


class ConnectionOut(BaseModel):
    id: int
    department_id: int
    department_name: str
    name: str
    kind: str
    kind_label: str
    location: str
    allowed: list[str]
    internal: bool
    active: bool
    retired_at: UtcDateTime | None
    created_at: UtcDateTime


@router.get("", response_model=list[ConnectionOut], summary="列出数据连接",
            description="平台管理员和审计员看到全部数据连接；部门用户只看到本部门可用的数据连接（不含密码）。")
def list_connections(actor: Actor = Depends(current_actor), session: Session = SESSION):
    return [connections.view(session, c) for c in connections.visible(session, actor)]


@router.post("", response_model=ConnectionOut, status_code=201, summary="登记数据连接",
             description="平台管理员为部门登记数据库或上游接口基地址（连接地址以节点密钥加密保存，R18）。"
                         "平台自身的数据库一律拒绝；SQLite 文件须在节点托管存储内；解析到内网、回环、链路本地"
                         "或组播地址的接口须确认为内部地址。",
             responses=errors(403, 404, 409))
def register(body: ConnectionIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    connection = connections.register(session, actor, body.department_id, body.name, body.kind, body.url,
                                      body.allowed, body.internal)
    return connections.view(session, connection)


@router.delete("/{connection_id}", response_model=ConnectionOut, summary="停用数据连接",
               description="停用后不能再经此连接接入数据源（R09、R18）；已接入的数据源照常提供。",
               responses=errors(403, 404, 409))
def retire(connection_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return connections.view(session, connections.retire(session, actor, connection_id))
