"""The 数据连接 page (issue 12): the platform admin registers and retires a department's connections in the
browser, the auditor reads them, nobody else sees or changes them; the department's manager then connects an
entry through its own connection on the source page (the path a person takes)."""

from __future__ import annotations

import re

from sqlalchemy import select

from govshare.gateway.models import DataConnection, DataSource
from tests.factories import published_entry
from tests.gateway_factories import people, population_items, source_table
from tests.web_helpers import token, visible_text

CONNECTION_PAGE_WRITE_ROUTES = {("POST", "/admin/connections"), ("POST", "/admin/connections/{connection_id}/retire")}


def test_r18_the_connection_pages_write_routes_are_the_ones_tested_here():
    from govshare.web.connection_pages import router

    found = {(m, r.path) for r in router.routes for m in r.methods & {"POST", "PUT", "PATCH", "DELETE"}}
    assert found == CONNECTION_PAGE_WRITE_ROUTES


def _connections(db) -> list[tuple]:
    with db.session() as s:
        return [(c.name, c.department_id, c.retired_at is None)
                for c in s.scalars(select(DataConnection).order_by(DataConnection.id))]


def test_r18_the_admin_registers_a_connection_and_the_manager_connects_through_it(db, world, as_user):
    url = source_table(db.settings.data_dir / "police.db", people(7))
    with db.session() as s:
        entry_id = published_entry(s, world, items=population_items()).id
    admin = as_user("admin")
    page = admin.get("/admin/connections")
    assert page.status_code == 200 and "登记数据连接" in page.text and 'href="/admin/connections"' in page.text
    refused = admin.post("/admin/connections", data={"csrf_token": token(admin), "department_id": world.ids["police"],
                                                     "name": "平台库", "kind": "sql", "url": db.url})
    assert refused.status_code == 403 and "平台自身的数据库" in visible_text(refused)
    bad = admin.post("/admin/connections", data={"csrf_token": token(admin), "department_id": world.ids["police"],
                                                 "name": "", "kind": "sql", "url": url})
    assert bad.status_code == 422 and "名称" in visible_text(bad) and url not in bad.text  # never echo the URL
    blank = admin.post("/admin/connections", data={"csrf_token": token(admin), "department_id": world.ids["police"],
                                                   "name": " ", "kind": "ftp", "url": ""})
    named = re.findall(r'<span class="field-error" role="alert">([^<]+)</span>', blank.text)
    assert blank.status_code == 422 and len(named) == 3, named  # every field typed wrong, at once
    assert ["名称不能为空" in named[0], "sql（数据库）或 http" in named[1], "请填写连接地址" in named[2]] == [True] * 3
    done = admin.post("/admin/connections", data={"csrf_token": token(admin), "department_id": world.ids["police"],
                                                  "name": "人口库", "kind": "sql", "url": url,
                                                  "allowed": "RK_JBXX"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert _connections(db) == [("人口库", world.ids["police"], True)]
    listed = admin.get(done.headers["location"])
    assert "人口库" in listed.text and "已登记" in listed.text and "RK_JBXX" in listed.text

    manager = as_user("police_manager")
    assert manager.get("/admin/connections").status_code == 403
    form = manager.get(f"/sources/{entry_id}")
    connection_id = re.search(r'<option value="(\d+)"[^>]*>人口库', form.text).group(1)
    connected = manager.post(f"/sources/{entry_id}/sql", data={
        "csrf_token": token(manager), "connection": connection_id, "table": "RK_JBXX", "key_item": "gmsfhm",
        "column_map": "行政区划代码=XZQH"}, follow_redirects=False)
    assert connected.status_code == 303, connected.text
    shown = visible_text(manager.get(f"/sources/{entry_id}"))
    assert "人口库" in shown and "7 行" in shown

    admin = as_user("admin")  # one browser: logging in again switches its user
    retired = admin.post(f"/admin/connections/{connection_id}/retire", data={"csrf_token": token(admin)},
                         follow_redirects=False)
    assert retired.status_code == 303, visible_text(retired)
    assert _connections(db) == [("人口库", world.ids["police"], False)]
    manager = as_user("police_manager")
    assert "本部门尚无数据库数据连接" in manager.get(f"/sources/{entry_id}").text
    with db.session() as s:
        assert s.scalars(select(DataSource.status)).one() == "connected"  # what it served keeps serving


def test_r18_only_the_admin_changes_connections_and_the_auditor_only_reads(db, world, as_user, client):
    url = source_table(db.settings.data_dir / "police.db", people(3))
    admin = as_user("admin")
    admin.post("/admin/connections", data={"csrf_token": token(admin), "department_id": world.ids["police"],
                                           "name": "人口库", "kind": "sql", "url": url})
    (connection_id,) = _ids(db)
    auditor = as_user("auditor")
    seen = auditor.get("/admin/connections")
    assert seen.status_code == 200 and "人口库" in seen.text and "登记数据连接" not in seen.text
    before = _connections(db)
    for who in ("auditor", "police_manager", "police_reviewer", "civil_manager", "reviewer", "civil_requester"):
        user = as_user(who)
        if who != "auditor":
            assert user.get("/admin/connections").status_code == 403, who
        added = user.post("/admin/connections", data={"csrf_token": token(user), "department_id": world.ids["civil"],
                                                       "name": "偷接", "kind": "sql", "url": url})
        assert added.status_code == 403, who
        retired = user.post(f"/admin/connections/{connection_id}/retire", data={"csrf_token": token(user)})
        assert retired.status_code == 403, who
    assert _connections(db) == before
    client.cookies.clear()
    anonymous = client.post("/admin/connections", data={"name": "x"}, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    assert _connections(db) == before


def _ids(db) -> list[int]:
    with db.session() as s:
        return list(s.scalars(select(DataConnection.id)))
