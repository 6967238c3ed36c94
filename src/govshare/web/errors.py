"""Error pages of the UI: an error on a page path is a Chinese page inside the site's layout (with the
visitor's navigation), never the API's JSON or a server's English text."""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from govshare.errors import InvalidFields

log = logging.getLogger(__name__)

TITLES = {
    400: "操作未完成",
    401: "需要登录",
    403: "无权访问",
    404: "页面不存在",
    405: "不支持的请求方式",
    409: "操作与当前状态冲突",
    413: "上传内容过大",
    422: "请求参数有误",
    429: "操作过于频繁",
    500: "服务器内部错误",
}


def title_of(status: int) -> str:
    return TITLES.get(status, "服务器内部错误" if status >= 500 else "操作未完成")


def _visitor(request: Request) -> dict | None:
    """The layout's view of the visitor, or None when it cannot be had (an error page must render even when
    the database is what failed)."""
    from govshare.web.pages import _me, page_actor

    try:
        with request.app.state.db.session(read_only=True) as session:
            return _me(session, page_actor(request, session))
    except Exception:  # the page is shown without the visitor's navigation
        log.warning("error page without the visitor's navigation", exc_info=True)
        return None


async def error_page(request: Request, status: int, message: str, headers: dict | None = None) -> HTMLResponse:
    from govshare.web.pages import templates

    me = await run_in_threadpool(_visitor, request)
    return templates.TemplateResponse(request, "error.html", {
        "me": me, "path": request.url.path, "error": None, "notice": None,
        "title": title_of(status), "message": message}, status_code=status, headers=headers)


def field_errors_of(error) -> dict[str, str]:
    """The messages a form shows next to its fields: all of an InvalidFields, else the one error's."""
    if error is None:
        return {}
    if isinstance(error, InvalidFields):
        return dict(error.errors)
    return {error.field or "form": error.message}
