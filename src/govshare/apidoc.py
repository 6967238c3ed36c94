"""What the OpenAPI document says beyond what FastAPI derives: the one error shape, the statuses each
operation really returns, the bearer scheme, and files documented as files.

Routes name the statuses only they return (`responses=errors(404, 409)`); `install` adds the ones that
follow from a route's shape: 401 and 403 where a caller must authenticate, 422 where it takes parameters
or a body, 404 where the path names a record. FastAPI's own 422 shape (`{detail: [...]}`), which the API never
returns, is replaced by ours."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, routing
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")  # machine-readable facts, e.g. current_status of a 409

    code: str = Field(description="机器可读的错误代码，如 not_found、validation_failed、rate_limited")
    message: str = Field(description="中文说明：哪个字段、违反了哪条规则")
    field: str | None = Field(None, description="出错的字段（参数名、请求体字段或 body）")


class ErrorOut(BaseModel):
    """The one error shape of the API."""

    error: ErrorDetail


ERROR_DESCRIPTIONS = {
    400: "请求无效（说明见 error.message）",
    401: "未登录、令牌无效或已过期（响应头 WWW-Authenticate: Bearer）",
    403: "无权执行此操作（角色、部门或授权范围不符，或缺少 X-CSRF-Token）",
    404: "对象不存在或不可见",
    409: "与当前状态冲突（如申请已答复、名称重复）",
    413: "上传内容过大",
    415: "上传文件的类型不被接受（按文件内容判断）",
    422: "字段不符合要求（error.field 指明字段）",
    429: "超出调用频率或每日配额",
    502: "数据源暂不可用",
}

WWW_AUTHENTICATE = {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route for the error statuses it returns besides those `install` derives."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {"model": ErrorOut, "description": ERROR_DESCRIPTIONS[status]}
        if status == 401:
            out[status]["headers"] = WWW_AUTHENTICATE
    return out


def file_response(media_types: dict[str, str], description: str = "文件") -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route that answers a file: {media type: what it is}."""
    content = {media: {"schema": {"type": "string", "format": "binary", "description": text}}
               for media, text in media_types.items()}
    return {200: {"description": description, "content": content}}


def install(app: FastAPI) -> None:
    """Builds the OpenAPI document once, on first request, with the derived statuses and the bearer scheme."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


SWAGGER_UI = "/static/vendor/swagger-ui"


def install_docs(app: FastAPI) -> None:
    """/docs: Swagger UI from the package's own files (a government node often has no internet), with no
    call to the public validator."""
    from fastapi.openapi.docs import get_swagger_ui_html

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title} · 接口文档",
            swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js", swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url="/favicon.ico",
            swagger_ui_parameters={"validatorUrl": None, "docExpansion": "list", "defaultModelsExpandDepth": 0})


def build(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                         openapi_version=app.openapi_version, tags=app.openapi_tags)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name, definition in _error_schemas().items():
        schemas.setdefault(name, definition)
    components["securitySchemes"] = {"bearer": {
        "type": "http", "scheme": "bearer",
        "description": "登录令牌（POST /api/v1/auth/login）、程序令牌（POST /api/v1/auth/tokens），"
                       "或调用数据接口的消费系统访问令牌（POST /api/v1/gateway/token）"}}
    for route in routing.iter_route_contexts(app.routes):  # included routers are kept apart (FastAPI ≥ 0.16x)
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods:
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is not None:
                _complete(operation, route)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return schema


def _error_schemas() -> dict[str, Any]:
    definition = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    nested = definition.pop("$defs", {})
    return {"ErrorOut": definition, **nested}


ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}


def _complete(operation: dict[str, Any], route) -> None:
    responses = operation.setdefault("responses", {})
    for status in derived_statuses(route):
        responses.setdefault(str(status), {"description": ERROR_DESCRIPTIONS[status]})
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            response["content"] = {"application/json": {"schema": ERROR_REF}}
            if response.get("description") in (None, "Validation Error"):  # FastAPI's own words
                response["description"] = ERROR_DESCRIPTIONS.get(int(status), "错误")
    if "401" in responses:
        responses["401"]["headers"] = WWW_AUTHENTICATE
        # a route that answers 401 for a wrong password (login) declares `security: []` itself
        operation.setdefault("security", [{"bearer": []}])


def derived_statuses(route) -> list[int]:
    """The error statuses that follow from the route's shape."""
    statuses = []
    if requires_login(route):
        statuses += [401, 403]
    if any(names_a_record(param.name) for param in route.dependant.path_params):
        statuses.append(404)
    if route.dependant.path_params or route.dependant.query_params or route.body_field is not None:
        statuses.append(422)
    return statuses


def names_a_record(parameter: str) -> bool:
    """A path parameter that names a stored record (`entry_id`, a resource `code`, a `version`), which may not
    exist or not be visible: 404. A value such as a calendar `day` is not looked up."""
    return parameter.endswith("_id") or parameter in ("code", "version")


def requires_login(route) -> bool:
    from govshare.deps import current_actor

    def depends_on(dependant) -> bool:
        return any(d.call is current_actor or depends_on(d) for d in dependant.dependencies)

    return depends_on(route.dependant)
