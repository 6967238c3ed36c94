"""Routes of the gateway (thin): every call becomes one `gateway.service.access`.

Consumer systems trade their credentials for a short-lived token at /api/v1/gateway/token and name the
grant they use on every call. Resource codes contain '/', so the specific routes are declared first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from starlette.background import BackgroundTask
from starlette.routing import request_response

from govshare.apidoc import errors, file_response
from govshare.authz import Actor
from govshare.deps import SESSION, current_actor, header_token
from govshare.errors import NotFound, ValidationFailed
from govshare.fields import MAX_ID, IdPath, IdQuery, limit_query
from govshare.gateway import service, tokens
from govshare.gateway.schemas import (
    DataOut,
    ExportIn,
    ItemMaskingOut,
    MaskingIn,
    MaskingOut,
    TokenIn,
    TokenOut,
    VerifyIn,
    VerifyOut,
)
from govshare.gateway.service import Call, Caller, Mode, Outcome, access

router = APIRouter(tags=["gateway"])
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
# What a data route may answer besides 200 and 422: the consumer system's token (401), the grant's refusals
# (403), an unknown or unpublished resource (404), the rate limit and the daily quota (429), a source that
# cannot be read (502), and a stored source address the node key cannot open (400).
DATA_ERRORS = errors(400, 401, 403, 404, 429, 502)
# Every data route is one call of the gateway: decided against the grant (R09, R10), masked (R17) and recorded (R12).
GOVERNED = ("经网关按共享授权的信息项、数据范围和用途（R09、R10）读取并脱敏（R17），"
            "每次调用（含被拒绝的）都写入使用记录（R12）。")


@router.post("/api/v1/gateway/token", response_model=TokenOut, summary="换取访问令牌",
             description="应用系统以客户端编号和密钥换取短期访问令牌（R18），调用数据接口时以 Bearer 方式出示；"
                         "密钥更换或系统吊销后，令牌立即失效。",
             responses=errors(401), openapi_extra={"security": []})  # 401 for wrong credentials; no token needed
def issue_token(body: TokenIn, session=SESSION):
    token, lifetime = tokens.issue_token(session, body.client_id, body.client_secret)
    return TokenOut(access_token=token, expires_in=lifetime)


def _masking_out(grant, effective: dict) -> MaskingOut:
    own = grant.masking or {}
    return MaskingOut(grant_id=grant.id, rules=dict(own), effective={
        name: ItemMaskingOut(rule=rule.text, label=rule.label, source="grant" if name in own else "default")
        for name, rule in effective.items()})


@router.get("/api/v1/gateway/grants/{grant_id}/masking", response_model=MaskingOut, summary="查看授权的脱敏规则")
def grant_masking(grant_id: IdPath, actor: Actor = Depends(current_actor), session=SESSION):
    """The rules the gateway applies under a grant, item by item (the grant's own, else the grade's default)."""
    return _masking_out(*service.grant_masking(session, actor, grant_id))


@router.put("/api/v1/gateway/grants/{grant_id}/masking", response_model=MaskingOut, summary="设置授权的脱敏规则",
            description="提供部门审核人员设置该授权各信息项的脱敏规则（R17），替换此前的规则；未列出的信息项按分级默认规则，"
                        "需求部门收到通知。",
            responses=errors(409))
def set_grant_masking(grant_id: IdPath, body: MaskingIn, actor: Actor = Depends(current_actor), session=SESSION):
    grant = service.set_masking(session, actor, grant_id, body.rules)
    return _masking_out(grant, service.effective_masking(session, grant))


def _system(request: Request) -> Caller:
    return Caller(token=header_token(request))


def _items(items: str | None) -> tuple[str, ...] | None:
    return tuple(i.strip() for i in items.split(",") if i.strip()) if items else None


def _filters(filters: list[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for text in filters:
        name, sep, value = text.partition(":")
        if not sep or not name.strip():
            raise ValidationFailed(f"筛选条件格式应为 信息项:值，收到 {text!r}", field="filter")
        pairs.append((name.strip(), value))
    return tuple(pairs)


def _data(outcome: Outcome, code: str, grant: int | None) -> JSONResponse:
    """The DataOut shape, written directly: the rows are already plain JSON values (masked strings and
    numbers), so validating them again through the response model would only cost time on every call."""
    return JSONResponse({"resource_code": code, "grant_id": grant, "mode": str(outcome.mode), "items": outcome.items,
                         "rows": outcome.rows, "masking": outcome.masking, "next_cursor": outcome.next_cursor,
                         "usage_record": outcome.record_seq, **_flags(outcome)})


def _flags(outcome: Outcome) -> dict:
    """R13: which served records are under verification (校核中); they are served all the same."""
    return {"under_verification": bool(outcome.under_verification), "objections": outcome.under_verification,
            "row_objections": outcome.row_objections}


Cursor = Annotated[str | None, Query(description="上一页返回的 next_cursor，原样传回；平台签发的游标只对同一资源、"
                                                   "同一共享授权有效，其他值一律视为无效（422）")]


@router.get("/api/v1/data/{code:path}/rows", response_model=DataOut, summary="分页读取共享数据",
            description="按数据源的排序列分页读取授权范围内的记录；下一页用本页返回的 next_cursor。" + GOVERNED,
            responses=DATA_ERRORS)
def page(request: Request, code: str, grant: IdQuery, cursor: Cursor = None,
         limit: Annotated[int, limit_query(service.MAX_PAGE)] = service.DEFAULT_PAGE, items: str | None = None,
         filter: list[str] = Query([])):
    call = Call(Mode.PAGE, code, grant_id=grant, cursor=cursor, limit=limit, items=_items(items),
                filters=_filters(filter))
    return _data(access(request.app.state.db, _system(request), call), code, grant)


@router.post("/api/v1/data/{code:path}/verify", response_model=VerifyOut, summary="核验记录",
             description="核验（R09）：只回答给出的信息项与存储的记录是否一致（match / no_match / not_found），"
                         "不返回数据。" + GOVERNED,
             responses=DATA_ERRORS)
def verify(request: Request, code: str, body: VerifyIn):
    call = Call(Mode.VERIFY, code, grant_id=body.grant, key=body.key, fields=tuple(body.fields.items()))
    outcome = access(request.app.state.db, _system(request), call)
    return VerifyOut(resource_code=code, grant_id=body.grant, result=outcome.verdict, usage_record=outcome.record_seq,
                     under_verification=bool(outcome.under_verification), objections=outcome.under_verification)


EXPORT_FILES = file_response({MEDIA_TYPES["csv"]: "CSV 文件（format=csv）",
                              MEDIA_TYPES["parquet"]: "Parquet 文件（format=parquet）"},
                             "导出的文件；响应头 X-Usage-Record 为使用记录序号，X-Row-Count 为行数，"
                             "X-Under-Verification 为文件中正在校核的记录所涉核实请求编号（逗号分隔，可为空）")


@router.post("/api/v1/data/{code:path}/export", summary="批量导出共享数据",
             description="把授权范围内的记录导出为 CSV 或 Parquet 文件。" + GOVERNED,
             response_class=FileResponse, responses={**EXPORT_FILES, **DATA_ERRORS})
def export(request: Request, code: str, body: ExportIn):
    call = Call(Mode.EXPORT, code, grant_id=body.grant, items=tuple(body.items) if body.items else None,
                filters=tuple(body.filters.items()), export_format=body.format, export_headers=body.headers)
    outcome = access(request.app.state.db, _system(request), call)
    path = outcome.export_path
    filename = f"{code.replace('/', '_')}.{body.format}"
    headers = {"X-Usage-Record": str(outcome.record_seq), "X-Row-Count": str(outcome.row_count),
               "X-Under-Verification": ",".join(map(str, outcome.under_verification)),
               "Content-Disposition": f"attachment; filename=\"{filename}\""}
    cleanup = BackgroundTask(path.unlink, missing_ok=True)
    if body.format == "csv":  # UTF-8 with a BOM: Excel and WPS open the Chinese text without asking
        return StreamingResponse(_with_bom(path), media_type=MEDIA_TYPES["csv"], headers=headers, background=cleanup)
    return FileResponse(path, media_type=MEDIA_TYPES[body.format], filename=filename, headers=headers,
                        background=cleanup)


def _with_bom(path, chunk: int = 1 << 20):
    yield "\ufeff".encode()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            yield block


@router.get("/api/v1/data/{code:path}/preview", response_model=DataOut, summary="页面预览共享数据",
            responses=errors(400, 429, 502))
def preview(request: Request, code: str, grant: IdQuery | None = None, actor: Actor = Depends(current_actor)):
    """The UI's preview: a person of the requester department (with a grant) or of the provider (its own
    data, no grant) sees the first rows, through the same gateway function and recorded the same way."""
    outcome = access(request.app.state.db, Caller(actor=actor), Call(Mode.PREVIEW, code, grant_id=grant))
    return _data(outcome, code, grant)


class PlainRoute(APIRoute):
    """A route FastAPI documents like any other (its OpenAPI parameters come from `openapi_extra`) but
    serves as a plain Starlette endpoint: `endpoint(request)` in the thread pool, with no per-request
    parameter solving, dependency stacks or response-model handling. For the key lookup, the hottest route
    of the platform, where that machinery cost about as much as the gateway's own checks."""

    def __init__(self, path: str, endpoint, **kwargs) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.app = request_response(endpoint)


LOOKUP_PARAMETERS = [
    {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}, "description": "资源代码"},
    {"name": "grant", "in": "query", "required": True, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
     "description": "共享授权编号（正整数）"},
    {"name": "key", "in": "query", "required": True, "schema": {"type": "string", "minLength": 1},
     "description": "主键值"},
    {"name": "items", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "要返回的信息项，逗号分隔（默认为授权的全部信息项）"},
]


def lookup(request: Request):
    """Key lookup: reads its parameters itself (documented above for the API docs)."""
    code = request.path_params["code"]
    grant, key, items = _lookup_parameters(request.query_params)
    call = Call(Mode.LOOKUP, code, grant_id=grant, key=key, items=_items(items))
    outcome = access(request.app.state.db, _system(request), call)
    if not outcome.rows:
        raise NotFound(f"没有主键为 {key} 的记录", field="key", code="not_found",
                       extra={"usage_record": outcome.record_seq})
    return _data(outcome, code, grant)


router.add_api_route("/api/v1/data/{code:path}", lookup, methods=["GET"], response_model=DataOut,
                     summary="按主键查询共享数据", description="按主键查询授权范围内的记录。" + GOVERNED,
                     responses=errors(*sorted({422, *DATA_ERRORS})),
                     openapi_extra={"parameters": LOOKUP_PARAMETERS}, route_class_override=PlainRoute)


def _lookup_parameters(query) -> tuple[int, str, str | None]:
    grant = _grant_number(query.get("grant"))
    key = query.get("key")
    if not key:
        raise ValidationFailed("必须给出主键值（key）", field="key")
    return grant, key, query.get("items")


MAX_ID_DIGITS = len(str(MAX_ID))


def _grant_number(text: str | None) -> int:
    """The `grant` parameter of a lookup: an id, 1 to MAX_ID, as LOOKUP_PARAMETERS documents it."""
    text = (text or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS:
        grant = int(text)
        if 1 <= grant <= MAX_ID:
            return grant
    raise ValidationFailed(f"必须给出共享授权编号（grant，1 至 {MAX_ID} 的整数）", field="grant")
