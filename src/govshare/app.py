"""FastAPI app factory: one error shape, each domain's router mounted."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from govshare import __version__, apidoc
from govshare.config import Settings, get_settings
from govshare.db import Database
from govshare.error_handlers import install_error_handlers
from govshare.head import HeadAsGet
from govshare.nul_guard import RejectNulCharacters


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in a thread pool and every gateway call hands its usage record to a writer
        # thread: a thread back from the database waits for the GIL up to the switch interval, and with
        # Python's default (5 ms) those waits, not the work, would set the gateway's latency.
        sys.setswitchinterval(settings.switch_interval_ms / 1000)
        yield

    app = FastAPI(
        title="govshare 政务数据共享平台",
        version=__version__,
        description="一本账目录、一站式共享、受控访问。API of the government data sharing platform.",
        lifespan=lifespan,
        docs_url=None,  # served below from the package: the default page loads Swagger UI from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = database or Database(settings.resolved_database_url, settings)
    from govshare.search.index import registry as search_registry

    search_registry.attach(app.state.db.url, settings.resolved_index_dir)  # catalog commits update this index
    install_error_handlers(app)
    app.add_middleware(RejectNulCharacters)
    app.add_middleware(HeadAsGet)
    apidoc.install(app)

    from govshare.audit.api import router as audit_router
    from govshare.catalog.api import router as catalog_router
    from govshare.catalog.onesource_api import router as onesource_router
    from govshare.demands.api import router as demands_router
    from govshare.gateway.api import router as gateway_router
    from govshare.gateway.connections_api import router as connections_router
    from govshare.gateway.sources_api import router as sources_router
    from govshare.notify.api import router as notify_router
    from govshare.objections.api import router as objections_router
    from govshare.orgs.api import router as orgs_router
    from govshare.quality.api import router as quality_router
    from govshare.search.api import router as search_router
    from govshare.sharing.api import router as sharing_router
    from govshare.web.admin_pages import router as admin_pages_router
    from govshare.web.audit_pages import router as audit_pages_router
    from govshare.web.connection_pages import router as connection_pages_router
    from govshare.web.data_pages import router as data_pages_router
    from govshare.web.gateway_pages import router as gateway_pages_router
    from govshare.web.objection_pages import router as objection_pages_router
    from govshare.web.pages import router as web_router
    from govshare.web.quality_pages import router as quality_pages_router
    from govshare.web.sharing_pages import router as sharing_pages_router
    from govshare.web.workbench_pages import router as workbench_pages_router
    from govshare.workdays.api import router as workdays_router

    # the data routes first, and on the app's own router: they are the hot path, and an included router
    # costs a second matching pass over its routes on every request
    app.router.routes.extend(gateway_router.routes)
    app.include_router(orgs_router)
    app.include_router(search_router)
    app.include_router(onesource_router)
    app.include_router(catalog_router)
    app.include_router(sharing_router)
    app.include_router(demands_router)
    app.include_router(notify_router)
    app.include_router(sources_router)
    app.include_router(quality_router)
    app.include_router(objections_router)
    app.include_router(connections_router)
    app.include_router(audit_router)
    app.include_router(workdays_router)
    app.include_router(web_router)
    app.include_router(sharing_pages_router)
    app.include_router(gateway_pages_router)
    app.include_router(connection_pages_router)
    app.include_router(quality_pages_router)
    app.include_router(objection_pages_router)
    app.include_router(admin_pages_router)
    app.include_router(data_pages_router)
    app.include_router(audit_pages_router)
    app.include_router(workbench_pages_router)

    apidoc.install_docs(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict:
        return {"status": "ok", "version": __version__}

    return app
