"""Data quality routes (R14); thin: every rule is in quality.service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from govshare.apidoc import errors
from govshare.authz import Actor
from govshare.deps import SESSION, current_actor
from govshare.fields import Id, IdPath, UtcDateTime
from govshare.quality import service
from govshare.quality.models import QualityRule, QualityRun, ReferenceTable
from govshare.quality.rules import Dimension, RuleKind

router = APIRouter(prefix="/api/v1/quality", tags=["quality"])


class RuleIn(BaseModel):
    kind: str = Field(description="规则类型：" + "、".join(f"{k.value}（{k.label}）" for k in RuleKind))
    item: str | None = Field(None, max_length=120, description="检查的信息项（字段名）；timeliness 不需要")
    params: dict[str, Any] = Field(default_factory=dict, description="参数，如 {\"format\": \"id_number\"}、"
                                   "{\"standard\": \"GB/T 2261.1\"}、{\"min\": 0, \"max\": 150}、"
                                   "{\"reference\": \"admin_divisions\"}、{\"other\": \"gmsfhm\"}")


class RuleOut(BaseModel):
    id: int
    entry_id: int
    kind: str
    kind_label: str
    dimension: str
    item: str | None
    params: dict[str, Any]
    label: str = Field(description="规则的中文说明")
    origin: str = Field(description="declared（部门设置）或 proposed（平台建议）")
    basis: str = Field(description="平台建议的依据")
    confirmed: bool = Field(description="已确认的规则才参与检查")
    confirmed_at: UtcDateTime | None


class ConfirmIn(BaseModel):
    rule_ids: list[Id] = Field(min_length=1, max_length=500)


class RuleResultOut(BaseModel):
    kind: str
    item: str | None
    label: str
    dimension: str
    checked: int = Field(description="检查的行数")
    failed: int = Field(description="不符合的行数")
    samples: list[str] = Field(description="不符合的主键示例（按信息项分级脱敏）")
    samples_hidden: str | None = Field(None, description="信息项分级在检查后变更时，示例已隐去的说明")


class RunOut(BaseModel):
    id: int
    entry_id: int
    trigger: str = Field(description="connect（接入时）、schedule（定时）或 demand（手动）")
    status: str = Field(description="done 或 failed")
    error: str
    rows_checked: int
    total_rows: int | None
    sampled: bool
    sample_method: str = Field(description="抽样时说明抽样方式与行数")
    scores: dict[str, float | None] = Field(description="各维度与总体得分（0–100）；无可评判数据的维度为空")
    results: list[RuleResultOut]
    started_at: UtcDateTime
    finished_at: UtcDateTime | None


class ReferenceIn(BaseModel):
    name: str = Field(max_length=60, description="参照表名称（字母、数字、下划线），如 admin_divisions")
    label: str = Field(max_length=200, description="中文名称，如 行政区划代码（县级）")
    codes: list[str] = Field(max_length=200_000, description="代码")
    source: str = Field("", max_length=500, description="来源与时点")


class ReferenceOut(BaseModel):
    id: int
    name: str
    label: str
    source: str
    code_count: int
    imported_at: UtcDateTime


def rule_out(rule: QualityRule) -> dict:
    spec = service.spec_of(rule)
    return {"id": rule.id, "entry_id": rule.entry_id, "kind": rule.kind, "kind_label": spec.kind.label,
            "dimension": spec.dimension.value, "item": rule.item, "params": rule.params, "label": spec.label,
            "origin": rule.origin, "basis": rule.basis, "confirmed": rule.confirmed_at is not None,
            "confirmed_at": rule.confirmed_at}


def run_out(session: Session, run: QualityRun) -> dict:
    scores = {d.value: getattr(run, d.value) for d in Dimension} | {"overall": run.overall}
    return {"id": run.id, "entry_id": run.entry_id, "trigger": run.trigger, "status": run.status, "error": run.error,
            "rows_checked": run.rows_checked, "total_rows": run.total_rows, "sampled": run.sampled,
            "sample_method": run.sample_method, "scores": scores, "results": service.samples_shown(session, run),
            "started_at": run.started_at, "finished_at": run.finished_at}


def reference_out(table: ReferenceTable) -> dict:
    return {"id": table.id, "name": table.name, "label": table.label, "source": table.source,
            "code_count": len(table.codes or []), "imported_at": table.imported_at}


@router.get("/entries/{entry_id}/rules", response_model=list[RuleOut], summary="目录的质量规则",
            description="能查看目录的用户都能查看其质量规则（R14）。", responses=errors(404))
def list_rules(entry_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return [rule_out(r) for r in service.list_rules(session, actor, entry_id)]


@router.post("/entries/{entry_id}/rules", response_model=RuleOut, status_code=201, summary="设置质量规则",
             description="提供部门的目录管理员或审核员为本部门目录设置质量规则，立即生效（R14）。",
             responses=errors(403, 404, 409))
def declare_rule(entry_id: IdPath, body: RuleIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return rule_out(service.declare_rule(session, actor, entry_id, body.model_dump()))


@router.post("/entries/{entry_id}/rules/propose", response_model=list[RuleOut], summary="生成质量规则建议",
             description="平台按信息项类型、名称和数据源画像建议规则；建议的规则经提供部门确认后才参与检查（R14）。",
             responses=errors(403, 404))
def propose_rules(entry_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return [rule_out(r) for r in service.propose_rules(session, actor, entry_id)]


@router.post("/entries/{entry_id}/rules/confirm", response_model=list[RuleOut], summary="确认质量规则",
             description="提供部门确认平台建议的规则，此后参与检查（R14）。", responses=errors(403, 404))
def confirm_rules(entry_id: IdPath, body: ConfirmIn, actor: Actor = Depends(current_actor),
                  session: Session = SESSION):
    return [rule_out(r) for r in service.confirm_rules(session, actor, entry_id, body.rule_ids)]


@router.delete("/entries/{entry_id}/rules/{rule_id}", status_code=204, summary="删除质量规则",
               description="提供部门删除本部门目录的一条质量规则（R14）；已有的检查记录不变。",
               responses=errors(403, 404))
def remove_rule(entry_id: IdPath, rule_id: IdPath, actor: Actor = Depends(current_actor),
                session: Session = SESSION):
    service.remove_rule(session, actor, entry_id, rule_id)


@router.post("/entries/{entry_id}/runs", response_model=RunOut, status_code=201, summary="检查数据质量",
             description="提供部门按已确认的规则检查数据源（一次扫描），记录各维度得分和不符合的主键示例（按分级脱敏，R14、R17）。",
             responses=errors(403, 404, 409))
def run_quality(entry_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return run_out(session, service.run_quality(session, actor, entry_id))


@router.get("/entries/{entry_id}/runs", response_model=list[RunOut], summary="目录的质量检查记录",
            description="最近的在前（R14）。", responses=errors(404))
def list_runs(entry_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return [run_out(session, r) for r in service.list_runs(session, actor, entry_id)]


@router.get("/runs/{run_id}", response_model=RunOut, summary="查看质量检查记录", responses=errors(404))
def get_run(run_id: IdPath, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return run_out(session, service.get_run(session, actor, run_id))


@router.get("/references", response_model=list[ReferenceOut], summary="参照表",
            description="质量规则可对照的代码表（如行政区划代码）。")
def list_references(actor: Actor = Depends(current_actor), session: Session = SESSION):
    return [reference_out(t) for t in service.list_references(session)]


@router.put("/references", response_model=ReferenceOut, summary="导入参照表",
            description="平台管理员导入或替换一张代码表（同名替换），供质量规则对照（R14）。", responses=errors(403))
def import_reference(body: ReferenceIn, actor: Actor = Depends(current_actor), session: Session = SESSION):
    return reference_out(service.import_reference(session, actor, body.name, body.label, body.codes, body.source))
