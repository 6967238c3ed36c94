"""Benchmark-only ASGI app (never deployed): the real govshare app, plus one bare route that reads the same
row from the same source table with a plain query and no checks. Both run in the same uvicorn workers,
so the gateway benchmark compares them under the same server, worker count and event loop.

Configured by the environment: GOVSHARE_DATA_DIR / GOVSHARE_DATABASE_URL (the node, as for `govshare
serve`) and GOVSHARE_BENCH_SOURCE_URL (the provider's table RK_JBXX)."""

from __future__ import annotations

import os

from sqlalchemy import create_engine, text
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from govshare.app import create_app

SOURCE_URL = os.environ["GOVSHARE_BENCH_SOURCE_URL"]
# the same driver and a pooled engine, as a developer would write a direct endpoint over this table
engine = create_engine(SOURCE_URL)
BARE_SQL = text("SELECT GMSFHM, XM, CSRQ, HJDZ, XZQH FROM RK_JBXX WHERE GMSFHM = :key")


def bare(request: Request) -> JSONResponse:
    """A plain endpoint: no token, no grant, no masking, no record. Sync like the gateway's routes, so both
    run in Starlette's thread pool."""
    with engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(BARE_SQL, {"key": request.path_params["key"]}).mappings()]
    if not rows:
        return JSONResponse({"error": "not found"}, status_code=404)
    return JSONResponse({"rows": rows})


app = create_app()
app.router.routes.insert(0, Route("/bare/{key}", bare, methods=["GET"]))
