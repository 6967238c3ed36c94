"""How every error leaves the server: the API answers `{"error": {code, message, field}}` with the
exception's headers (Allow on 405, WWW-Authenticate on 401); a page path answers the Chinese error page in
the site's layout. Nothing answers a server's plain English text, not even an unexpected failure (500)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from govshare.errors import DomainError, NotAuthenticated

log = logging.getLogger("govshare")

API_PREFIXES = ("/api/", "/openapi.json", "/docs", "/healthz")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SERVER_ERROR = "服务器内部错误，已记录。请稍后重试；如仍出现，请联系平台管理员。"
UNPARSEABLE_MESSAGE = "字段 body 无法解析（应为 UTF-8 编码的 JSON、表单或 multipart 上传）"
HTTP_MESSAGES = {
    404: "请求的地址不存在",
    405: "此地址不支持该请求方式",
}


def is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES)


async def respond(request: Request, status: int, code: str, message: str, field: str | None = None,
                  headers: dict | None = None, extra: dict | None = None) -> Response:
    if is_api(request):
        body = {"error": {"code": code, "message": message, "field": field, **(extra or {})}}
        return JSONResponse(body, status_code=status, headers=headers)
    if status == 401 and request.method in ("GET", "HEAD"):
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    from govshare.web.errors import error_page

    return await error_page(request, status, message, headers=headers)


# ---------------------------------------------------------------- validation messages in Chinese

RULES = {
    "missing": "必须填写",
    "int_parsing": "应为整数", "int_type": "应为整数", "int_from_float": "应为整数",
    "float_parsing": "应为数字", "float_type": "应为数字", "finite_number": "应为有限的数字",
    "decimal_parsing": "应为数字",
    "bool_parsing": "应为 true 或 false", "bool_type": "应为 true 或 false",
    "string_type": "应为文本", "string_unicode": "应为有效的文本",
    "string_too_short": "至少 {min_length} 个字符", "string_too_long": "最多 {max_length} 个字符",
    "string_pattern_mismatch": "格式不符合规则 {pattern}",
    "greater_than_equal": "应不小于 {ge}", "greater_than": "应大于 {gt}",
    "less_than_equal": "应不大于 {le}", "less_than": "应小于 {lt}",
    "multiple_of": "应为 {multiple_of} 的倍数",
    "enum": "应为以下之一：{expected}", "literal_error": "应为以下之一：{expected}",
    "date_parsing": "应为日期（YYYY-MM-DD）", "date_type": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）", "date_from_datetime_inexact": "应为日期（不含时刻）",
    "datetime_parsing": "应为 ISO 8601 时间", "datetime_type": "应为 ISO 8601 时间",
    "datetime_from_date_parsing": "应为 ISO 8601 时间",
    "time_parsing": "应为时刻（HH:MM）", "time_type": "应为时刻（HH:MM）",
    "json_invalid": "不是有效的 JSON", "json_type": "应为 JSON",
    "dict_type": "应为 JSON 对象", "model_type": "应为 JSON 对象", "model_attributes_type": "应为 JSON 对象",
    "list_type": "应为列表", "tuple_type": "应为列表", "set_type": "应为不重复的列表",
    "too_short": "至少 {min_length} 项", "too_long": "最多 {max_length} 项",
    "extra_forbidden": "不是可接受的字段",
    "url_parsing": "应为网址", "url_type": "应为网址", "url_scheme": "网址协议应为 {expected_schemes}",
    "uuid_parsing": "应为 UUID", "uuid_type": "应为 UUID",
    "bytes_type": "应为文件或字节", "bytes_too_long": "最多 {max_length} 字节",
    "none_required": "应为空", "is_instance_of": "类型不符",
}


def field_of(location: tuple) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header", "cookie", "form")]
    return ".".join(parts) or "body"


def rule_of(error: dict) -> str:
    kind = error.get("type", "")
    if kind in ("value_error", "assertion_error"):
        # our own validators raise Chinese messages (pydantic prefixes them); a library's English is not shown
        message = str(error.get("msg", "")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if "UploadFile" in message:
            return "应为上传的文件"
        return message if _has_chinese(message) else "不符合要求"
    template = RULES.get(kind)
    if template is None:
        return "不符合要求"
    try:
        return template.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError):
        return template.split("{")[0].rstrip("：: ") or "不符合要求"


def validation_message(error: dict) -> tuple[str, str]:
    """(field, Chinese message) of pydantic's first error: which field, which rule."""
    location = tuple(error.get("loc", ()))
    field = "body" if error.get("type") == "json_invalid" else field_of(location)
    return field, f"字段 {field} {rule_of(error)}"


# ---------------------------------------------------------------- handlers


def allowed_methods(request: Request) -> str:
    """Every method some route accepts at this path: Starlette's own 405 names only the first route's."""
    allowed = []
    for method in METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    if "GET" in allowed:
        allowed.insert(1, "HEAD")  # head.HeadAsGet answers it for every GET route
    return ", ".join(allowed)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
        return await respond(request, exc.status_code, exc.code, exc.message, exc.field, headers, exc.extra)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        field, message = validation_message(errors[0]) if errors else ("body", "请求不符合要求")
        in_path = bool(errors) and tuple(errors[0].get("loc", ()))[:1] == ("path",)
        if in_path and not is_api(request):
            return await respond(request, 404, "not_found", "请求的地址不存在（地址中的编号无效）", field)
        return await respond(request, 422, "validation_failed", message, field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400:  # only the framework raises it: a JSON, form or multipart body it cannot parse
            return await respond(request, 422, "validation_failed", UNPARSEABLE_MESSAGE, "body")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = HTTP_MESSAGES.get(exc.status_code) or _chinese_or(str(exc.detail), "请求未能完成")
        return await respond(request, exc.status_code, code, message, headers=headers or None)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return await respond(request, 500, "internal_error", SERVER_ERROR)


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _chinese_or(text: str, fallback: str) -> str:
    return text if _has_chinese(text) else fallback
