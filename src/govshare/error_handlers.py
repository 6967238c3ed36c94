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
from govshare.messages import pydantic_message
from govshare.validation import has_chinese

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
        if "retry_after" in exc.extra:  # a lockout (orgs.throttle) says how many seconds to wait
            headers = {"Retry-After": str(exc.extra["retry_after"])}
        return await respond(request, exc.status_code, exc.code, exc.message, exc.field, headers, exc.extra)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        field, message = pydantic_message(errors[0]) if errors else ("body", "请求不符合要求")
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


def _chinese_or(text: str, fallback: str) -> str:
    return text if has_chinese(text) else fallback
