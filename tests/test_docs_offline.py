"""/docs works on a node without internet (the usual case for a government node): Swagger UI is served from
the package, and a real browser that may reach nothing but the node renders every operation."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.test_browser import CHROMIUM, CHROMIUM_ARGS


def test_docs_page_loads_its_assets_from_the_node_only(client):
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    assert '"validatorUrl": null' in page.text  # Swagger UI would otherwise call validator.swagger.io
    assert client.get("/redoc").status_code == 404  # its default page loads from a CDN
    licence = client.get("/static/vendor/swagger-ui/LICENSE")
    assert licence.status_code == 200 and "Apache License" in licence.text


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium")
def test_docs_render_every_operation_in_a_browser_that_cannot_leave_the_node(app, live_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    outside: list[str] = []

    def only_the_node(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", only_the_node)
            page.goto(f"{live_server}/docs")
            page.wait_for_selector(".opblock", timeout=20_000)
            shown = page.locator(".opblock").count()
        finally:
            browser.close()
    operations = sum(len(methods) for methods in app.openapi()["paths"].values())
    assert shown == operations
    assert outside == []
