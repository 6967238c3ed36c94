"""The 数据源 pages (R09, R17, R18): the provider connects a file, reads the profile and the load report and
confirms the grades through the forms; mismatches are shown at the field; another department, a requester,
the auditor and anonymous visitors change nothing."""

from __future__ import annotations

import re

from sqlalchemy import select

from govshare.catalog import service as catalog
from govshare.gateway import connect, connections
from govshare.gateway.models import DataSource
from tests.factories import SYSTEM, published_entry
from tests.gateway_factories import population_items, source_table, sql_connection
from tests.test_sources import csv_bytes, people, resident_entry, residents
from tests.web_helpers import token, visible_text

# Every write route of govshare.web.gateway_pages (tests/test_web.py lists the other pages' routes).
SOURCE_PAGE_WRITE_ROUTES = {
    ("POST", "/sources/{entry_id}/sql"), ("POST", "/sources/{entry_id}/file"), ("POST", "/sources/{entry_id}/http"),
    ("POST", "/sources/{entry_id}/confirm"), ("POST", "/sources/{entry_id}/disconnect"),
}





def _bad_csv() -> bytes:
    """Twelve residents; data row 5 has a field too many."""
    lines = csv_bytes(residents(12)).decode().splitlines()
    lines[5] += ",多余"
    return "\n".join(lines).encode()


def _source(db, entry_id: int) -> DataSource | None:
    with db.session() as s:
        return s.scalars(select(DataSource).where(DataSource.entry_id == entry_id)).first()


def test_r09_provider_uploads_a_file_sees_profile_and_bad_rows_and_confirms(db, world, as_user):
    with db.session() as s:
        entry_id = resident_entry(s, world).id
    client = as_user("police_manager")
    listing = client.get("/sources")
    assert listing.status_code == 200 and "人口基本信息" in listing.text and "未接入" in listing.text
    assert f'href="/sources/{entry_id}"' in listing.text
    form = client.get(f"/sources/{entry_id}")
    assert form.status_code == 200 and "接入数据源" in form.text and 'name="key_item"' in form.text
    done = client.post(f"/sources/{entry_id}/file", data={"csrf_token": token(client), "key_item": "gmsfhm"},
                       files={"file": ("人口.csv", _bad_csv(), "text/csv")}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/sources/{entry_id}?notice=connected", done.text
    page = client.get(done.headers["location"])
    text = visible_text(page)
    assert "数据源已接入" in text and "11 行" in text and "跳过问题行 1 行" in text
    assert "第 5 行" in text and "字段数为 8，应为 7" in text
    assert "公民身份号码" in text and "手机号码" in text and "银行卡号" in text
    assert "只显示前3位和后4位，其余以*遮盖" in text
    assert 'name="grade_zh"' in page.text and "尚未确认" in text
    confirmed = client.post(f"/sources/{entry_id}/confirm", data={"csrf_token": token(client), "accept_all": "1"},
                            follow_redirects=False)
    assert confirmed.status_code == 303, confirmed.text
    with db.session() as s:
        items = {i.name: (i.grade, i.personal_info) for i in catalog.get_entry(s, SYSTEM, entry_id).items}
    assert items["zh"] == ("general_4", "spi") and items["gmsfhm"] == ("general_4", "spi")
    assert "已由 police_manager" in visible_text(client.get(f"/sources/{entry_id}"))
    preview = client.get(f"/data/preview?entry={entry_id}")
    assert preview.status_code == 200 and residents(12)[0]["公民身份号码"] in preview.text
    headers = re.findall(r'<th scope="col">([^<]+)', preview.text)
    assert "公民身份号码" in headers and "gmsfhm" not in headers  # Chinese item names, not field codes


def test_r09_confirm_form_keeps_the_providers_choice_and_refuses_lowering(db, world, as_user):
    with db.session() as s:
        entry = resident_entry(s, world)
        connect.connect_file(s, world.actors["police_manager"], entry.id, csv_bytes(residents(8)), "a.csv", "gmsfhm")
        entry_id = entry.id
    client = as_user("police_reviewer")
    lowered = client.post(f"/sources/{entry_id}/confirm", data={"csrf_token": token(client),
                                                                "grade_hjdz": "general_1", "pi_hjdz": "none"})
    assert lowered.status_code == 422 and "户籍地址（hjdz）" in visible_text(lowered)
    chosen = client.post(f"/sources/{entry_id}/confirm", data={"csrf_token": token(client), "grade_lxfs": "general_4",
                                                               "pi_lxfs": "spi", "reason": "联系方式为手机号"},
                         follow_redirects=False)
    assert chosen.status_code == 303
    with db.session() as s:
        items = {i.name: (i.grade, i.personal_info) for i in catalog.get_entry(s, SYSTEM, entry_id).items}
    assert items["lxfs"] == ("general_4", "spi") and items["hjdz"] == ("general_4", "pi")


def test_r09_mapping_mismatch_is_shown_at_the_field_and_nothing_is_stored(db, world, as_user):
    """The manager chooses one of its department's data connections (issue 12: no URL is typed)."""
    url = source_table(db.settings.data_dir / "police.db", people(5))
    with db.session() as s:
        entry_id = published_entry(s, world, items=population_items()).id
        name = sql_connection(s, world, url)
        connection_id = connections.usable(s, SYSTEM, world.ids["police"], name, "sql").id
        api_id = connections.usable(s, SYSTEM, world.ids["police"], sql_connection(
            s, world, "http://127.0.0.1:9/", kind="http", internal=True), "http").id
    client = as_user("police_manager")
    form = client.get(f"/sources/{entry_id}")
    assert f'<option value="{connection_id}"' in form.text and name in form.text
    assert 'name="url"' not in form.text and url.removeprefix("sqlite:///") in form.text  # the file, not a secret
    page = client.post(f"/sources/{entry_id}/sql", data={"csrf_token": token(client), "connection": connection_id,
                                                         "table": "RK_JBXX", "key_item": "gmsfhm"})
    assert page.status_code == 422
    label = re.search(r'<textarea name="column_map".*?</label>', page.text, re.S).group(0)
    assert "行政区划代码（xzqhdm）" in label and "XZQH" in label
    assert _source(db, entry_id) is None
    done = client.post(f"/sources/{entry_id}/sql", data={"csrf_token": token(client), "connection": connection_id,
                                                         "table": "RK_JBXX", "key_item": "gmsfhm",
                                                         "column_map": "行政区划代码=XZQH"},
                       follow_redirects=False)
    assert done.status_code == 303, done.text
    shown = client.get(f"/sources/{entry_id}")
    assert "数据库表" in shown.text and "RK_JBXX" in shown.text and "行政区划代码" in shown.text and name in shown.text
    http = client.post(f"/sources/{entry_id}/http", data={"csrf_token": token(client), "connection": api_id,
                                                          "path": "p", "key_item": "gmsfhm", "key_param": "sfzh",
                                                          "column_map": "gmsfhm=SFZH\nxm=XM"})
    assert http.status_code == 422 and "出生日期（csrq）" in http.text
    assert _source(db, entry_id).kind == "sql"


def test_r18_a_department_chooses_only_its_own_connections(db, world, as_user):
    """省民政厅's manager cannot connect its entry through 省公安厅's connection (hole 2 of issue 12), by number
    or by name; nor type a URL (the field is not read)."""
    url = source_table(db.settings.data_dir / "police.db", people(5))
    with db.session() as s:
        entry_id = published_entry(s, world, "civil_manager", items=population_items()).id
        name = sql_connection(s, world, url)
        police_id = connections.usable(s, SYSTEM, world.ids["police"], name, "sql").id
    client = as_user("civil_manager")
    assert name not in client.get(f"/sources/{entry_id}").text
    for chosen in (str(police_id), name):
        page = client.post(f"/sources/{entry_id}/sql", data={"csrf_token": token(client), "connection": chosen,
                                                             "url": url, "table": "RK_JBXX", "key_item": "gmsfhm"})
        assert page.status_code == 404 and "本部门没有" in page.text, page.text
    assert _source(db, entry_id) is None


def test_r18_other_departments_and_roles_cannot_see_or_connect(db, world, as_user):
    with db.session() as s:
        entry = resident_entry(s, world)
        connect.connect_file(s, world.actors["police_manager"], entry.id, csv_bytes(residents(6)), "a.csv", "gmsfhm")
        entry_id = entry.id
        other_id = resident_entry(s, world, name="未接入的目录").id
    before = _source(db, entry_id).location
    for who in ("civil_manager", "city_civil_manager", "civil_requester"):
        client = as_user(who)
        assert client.get(f"/sources/{entry_id}").status_code == 404, who
        assert client.get(f"/sources/{other_id}").status_code == 404, who
        assert "人口基本信息" not in client.get("/sources").text, who
        response = client.post(f"/sources/{entry_id}/file", data={"csrf_token": token(client), "key_item": "gmsfhm"},
                               files={"file": ("a.csv", csv_bytes(residents(3)), "text/csv")})
        assert response.status_code == 403 and "无权" in response.text, who
        assert client.post(f"/sources/{entry_id}/disconnect",
                           data={"csrf_token": token(client), "reason": "越权断开"}).status_code == 403
    assert _source(db, entry_id).location == before and _source(db, entry_id).status == "connected"
    reviewer = as_user("reviewer")  # the competent authority sees its area's sources, but connects nothing
    assert reviewer.get(f"/sources/{entry_id}").status_code == 200
    assert 'action="/sources/' not in reviewer.get(f"/sources/{entry_id}").text


def test_r18_every_source_page_write_route_refuses_the_auditor_and_anonymous_users(db, world, as_user, client):
    from govshare.web.gateway_pages import router

    found = {(m, r.path) for r in router.routes for m in r.methods & {"POST", "PUT", "PATCH", "DELETE"}}
    assert found == SOURCE_PAGE_WRITE_ROUTES
    with db.session() as s:
        entry = resident_entry(s, world)
        connect.connect_file(s, world.actors["police_manager"], entry.id, csv_bytes(residents(6)), "a.csv", "gmsfhm")
        entry_id = entry.id
    urls = [path.replace("{entry_id}", str(entry_id)) for _, path in sorted(SOURCE_PAGE_WRITE_ROUTES)]
    form = {"url": "sqlite:///x.db", "table": "t", "key_item": "gmsfhm", "accept_all": "1"}

    def state():
        source = _source(db, entry_id)
        return source.location, source.status, source.confirmed_at

    before = state()
    client.cookies.clear()
    for url in urls:
        response = client.post(url, data=form, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), url
    auditor = as_user("auditor")
    assert auditor.get(f"/sources/{entry_id}").status_code == 200  # the auditor reads
    for url in urls:
        response = auditor.post(url, data={**form, "csrf_token": token(auditor)},
                                files={"file": ("a.csv", b"x", "text/csv")} if url.endswith("/file") else None)
        assert response.status_code == 403 and "无权" in response.text, url
    assert state() == before


def test_r18_source_forms_without_the_csrf_token_are_refused(db, world, as_user):
    with db.session() as s:
        entry = resident_entry(s, world)
        connect.connect_file(s, world.actors["police_manager"], entry.id, csv_bytes(residents(6)), "a.csv", "gmsfhm")
        entry_id = entry.id
    client = as_user("police_manager")
    for data in ({"accept_all": "1"}, {"accept_all": "1", "csrf_token": "0" * 64}):
        assert client.post(f"/sources/{entry_id}/confirm", data=data).status_code == 403
    assert client.post(f"/sources/{entry_id}/disconnect", data={"reason": "无令牌"}).status_code == 403
    assert _source(db, entry_id).confirmed_at is None and _source(db, entry_id).status == "connected"
