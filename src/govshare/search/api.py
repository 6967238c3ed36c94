"""Catalog search route (thin: the rules are in search.service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from govshare.authz import Actor
from govshare.catalog.vocab import DataFormat, Grade, ShareType
from govshare.deps import current_actor
from govshare.fields import limit_query
from govshare.orgs.models import LEVEL_LABELS
from govshare.search import index as search_index
from govshare.search import service

router = APIRouter(prefix="/api/v1/catalog", tags=["search"])
search_index.install_listener()


class SearchHit(BaseModel):
    id: int = Field(description="catalog entry id")
    resource_code: str
    name: str
    provider: str = Field(description="提供部门名称")
    provider_id: int
    share_type: str
    grade: str
    format: str
    score: float
    is_lead_source: bool = Field(description="R06: the provider is the lead source of what the query names")
    quality: float | None = Field(None, description="最近一次数据质量检查的总体得分（0–100，R14）；未检查为空")
    highlight: str | None = Field(None, description="name with the matched words in <em>, HTML-escaped")


class SearchOut(BaseModel):
    total: int
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]] = Field(description="{field: {value: count}} over all matches")
    facet_labels: dict[str, dict[str, str]] = Field(default_factory=dict, description="Chinese labels of values")
    took_ms: float
    notice: str | None = Field(None, description="e.g. the index is empty and needs a rebuild")


LEVELS = "、".join(f"{level.value}（{label}）" for level, label in LEVEL_LABELS.items())
SEVERAL = "；可多个（重复该参数或以逗号分隔），代码或中文均可"


@router.get("/search", response_model=SearchOut, summary="检索目录",
            description="在已发布目录中检索（中文分词、同义词、BM25 排序），可按分面筛选；"
                        "查询词说到一数一源数据项时，牵头数源部门的目录排在前面（R06）。")
def search_catalog(
    request: Request,
    q: str = Query("", max_length=200, description="查询词：中文词语、单字或多个词（空格分隔）"),
    department: list[str] | None = Query(None, description="提供部门编号（正整数）；可多个（重复该参数或以逗号分隔）"),
    level: list[str] | None = Query(None, description=f"部门层级：{LEVELS}{SEVERAL}"),
    share_type: list[str] | None = Query(None, description=f"共享类型：{ShareType.choices()}{SEVERAL}"),
    format: list[str] | None = Query(None, description=f"资源格式：{DataFormat.choices()}{SEVERAL}"),
    grade: list[str] | None = Query(None, description=f"分级：{Grade.choices()}{SEVERAL}"),
    theme: list[str] | None = Query(None, description="主题，可多个"),
    stale: bool | None = Query(None, description="true 只看过期目录，false 只看未过期目录"),
    quality_min: float | None = Query(None, ge=0, le=100, description="最近一次质量检查的总体得分不低于此值（R14）"),
    order: str = Query("relevance",
                       description="排序：relevance（相关度）或 quality（质量得分从高到低，未检查的在后）"),
    limit: Annotated[int, limit_query(service.MAX_LIMIT)] = 20,
    offset: int = Query(0, ge=0, le=service.MAX_OFFSET, description=f"跳过的条数（分页，最多 {service.MAX_OFFSET}）"),
    facets: bool = Query(True, description="是否返回分面统计"),
    actor: Actor = Depends(current_actor),
) -> dict:
    filters = service.parse_filters(department=department, level=level, share_type=share_type, format=format,
                                    grade=grade, theme=theme, stale=stale, quality_min=quality_min)
    index_dir = request.app.state.settings.resolved_index_dir
    return service.search(index_dir, q, filters, limit=limit, offset=offset, facets=facets, order=order)
