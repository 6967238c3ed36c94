"""一数一源 routes (R06); thin: every rule is in catalog.onesource."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.catalog import onesource
from govshare.deps import SESSION, current_actor
from govshare.fields import Id, IdPath, IdQuery, UtcDateTime

router = APIRouter(prefix="/api/v1/catalog/one-source", tags=["one-source"])


class ClusterMemberOut(BaseModel):
    department_id: int
    department_name: str
    entry_id: int
    resource_code: str
    entry_name: str
    item_id: int
    item_name: str = Field(description="信息项名称 as cataloged by the department")
    field_name: str
    is_lead: bool


class ClusterOut(BaseModel):
    id: int
    key: str = Field(description="province|canonical name|item type")
    label: str = Field(description="canonical item name (规范名称)")
    data_type: str
    data_type_label: str
    department_count: int
    lead_department_id: int | None
    lead_department_name: str | None
    lead_reason: str
    named_by_id: int | None
    named_at: UtcDateTime | None
    detected_at: UtcDateTime
    members: list[ClusterMemberOut]


class DetectionOut(BaseModel):
    clusters: int
    created: int
    removed: int
    leads_kept: int
    leads_cleared: list[str]


class LeadIn(BaseModel):
    department_id: Id = Field(description="牵头数源部门：采集该数据项的部门之一")
    reason: str = Field(min_length=1, description="认定理由，如法定职责依据")


@router.get("/clusters", response_model=list[ClusterOut], summary="一数一源数据项列表",
            description="多个部门采集的同一数据项（R06），涉及部门最多的在前；department_id 只看涉及该部门的。")
def list_clusters(department_id: IdQuery | None = None, actor: Actor = Depends(current_actor),
                  session: Session = SESSION):
    return [onesource.cluster_view(c) for c in onesource.list_clusters(session, actor, department_id=department_id)]


@router.get("/clusters/{cluster_id}", response_model=ClusterOut, summary="查看一数一源数据项")
def get_cluster(cluster_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return onesource.cluster_view(onesource.get_cluster(session, cluster_id))


@router.post("/detect", response_model=DetectionOut, summary="检测一数一源",
             description="主管部门从已发布目录重新检测多个部门采集的同一数据项（R06）；已认定的牵头部门按数据项保留。")
def detect(actor: Actor = Depends(current_actor), session: Session = SESSION):
    return onesource.detect_clusters(session, actor).as_dict()


@router.post("/clusters/{cluster_id}/lead", response_model=ClusterOut, summary="认定牵头数源部门",
             description="辖区覆盖全部采集部门的主管部门审核员认定牵头数源部门，须说明理由（R06）；"
                         "检索时该部门的目录排在前面。")
def name_lead(cluster_id: IdPath, body: LeadIn, actor: Actor = Depends(current_actor),
              session: Session = SESSION):
    cluster = onesource.name_lead_source(session, actor, cluster_id, body.department_id, body.reason)
    return onesource.cluster_view(cluster)
