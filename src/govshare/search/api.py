"""Catalog search route (thin: the rules are in search.service)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from govshare.authz import Actor
from govshare.deps import current_actor
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
    highlight: str | None = Field(None, description="name with the matched words in <em>, HTML-escaped")


class SearchOut(BaseModel):
    total: int
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]] = Field(description="{field: {value: count}} over all matches")
    facet_labels: dict[str, dict[str, str]] = Field(default_factory=dict, description="Chinese labels of values")
    took_ms: float
    notice: str | None = Field(None, description="e.g. the index is empty and needs a rebuild")


@router.get("/search", response_model=SearchOut)
def search_catalog(
    request: Request,
    q: str = Query("", max_length=200, description="查询词：中文词语、单字或多个词（空格分隔）"),
    department: list[str] | None = Query(None, description="提供部门编号，可多个"),
    level: list[str] | None = Query(None, description="部门层级 national/provincial/municipal/county 或中文"),
    share_type: list[str] | None = Query(None, description="共享类型代码或中文，如 无条件共享"),
    format: list[str] | None = Query(None, description="资源格式代码或中文，如 数据库"),
    grade: list[str] | None = Query(None, description="分级代码或中文，如 一般3"),
    theme: list[str] | None = Query(None, description="主题"),
    stale: bool | None = Query(None, description="true 只看过期目录，false 只看未过期目录"),
    limit: int = Query(20, ge=1, le=service.MAX_LIMIT),
    offset: int = Query(0, ge=0, le=service.MAX_OFFSET),
    facets: bool = Query(True, description="是否返回分面统计"),
    actor: Actor = Depends(current_actor),
) -> dict:
    filters = service.parse_filters(department=department, level=level, share_type=share_type, format=format,
                                    grade=grade, theme=theme, stale=stale)
    index_dir = request.app.state.settings.resolved_index_dir
    return service.search(index_dir, q, filters, limit=limit, offset=offset, facets=facets)
