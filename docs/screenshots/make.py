"""The pictures of docs/screenshots (README): each role's workbench and the main pages of the demo province, in
Debian's Chromium at 1366×768 (the common desk resolution), first screen only.

    .venv/bin/python docs/screenshots/make.py

Seeds the demo (`govshare demo`'s seed) into a throwaway folder, serves it on a free local port, logs in as each
demo role and saves PNGs here. Needs `apt-get install -y chromium fonts-wqy-microhei` (Chinese glyphs)."""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# (file, demo user, path): a workbench per role, then the pages a person works in most
SHOTS = [
    ("workbench-dept-reviewer.png", "police_reviewer", "/"),
    ("workbench-requester.png", "hf_civil_requester", "/"),
    ("workbench-catalog-manager.png", "hrss_manager", "/"),
    ("workbench-authority.png", "hf_data_authority", "/"),
    ("workbench-auditor.png", "auditor", "/"),
    ("workbench-admin.png", "admin", "/"),
    ("catalog-search.png", "hf_civil_requester", "/catalog?q=低保"),
    ("sharing-grants.png", "hf_civil_requester", "/sharing/grants"),
    ("usage-records.png", "auditor", "/audit"),
    ("admin-users.png", "admin", "/admin/users"),
    ("data-quality.png", "market_manager", "/catalog/{企业登记信息}/quality"),
    ("objection.png", "police_reviewer", "/objections/1"),
]


def _resolved(settings, path: str) -> str:
    """`{entry name}` in a path replaced by that demo entry's id."""
    import re

    from sqlalchemy import select

    from govshare.catalog.models import CatalogEntry
    from govshare.db import Database

    def entry_id(match: re.Match) -> str:
        with Database(settings.resolved_database_url, settings).session() as session:
            return str(session.scalars(select(CatalogEntry.id).where(CatalogEntry.name == match[1])).first())

    return re.sub(r"\{([^}]+)\}", entry_id, path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    import uvicorn
    from playwright.sync_api import sync_playwright

    from govshare import migrate
    from govshare.app import create_app
    from govshare.config import Settings
    from govshare.db import Database
    from govshare.demo import seed

    folder = Path(tempfile.mkdtemp(prefix="govshare-shots-"))
    url = f"sqlite:///{folder / 'govshare.db'}"
    migrate.upgrade(url)
    settings = Settings(database_url=url, data_dir=folder)
    report = seed.seed_demo(Database(url, settings), settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        for name, username, path in SHOTS:
            page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="zh-CN")
            page.goto(f"{base}/login")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", report.password)
            page.click("button:has-text('登录')")
            page.wait_for_load_state()
            page.goto(f"{base}{_resolved(settings, path)}")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(HERE / name))
            print(name, file=sys.stderr)
            page.close()
        browser.close()
    server.should_exit = True


if __name__ == "__main__":
    main()
