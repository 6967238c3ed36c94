"""核验 through the UI (issue 14, R09, R17): a clerk of the requesting department enters the key fields of a
verify-only grant and reads 一致 / 不一致 / 无记录 — through the gateway, each verification a usage record with
the person's name; no data leaves; another department, another role or a logged-out visitor is refused."""

from __future__ import annotations

from sqlalchemy import select

from govshare.audit.models import UsageRecord
from tests.gateway_factories import served_population
from tests.web_helpers import token, visible_text

# the page write routes of web/data_pages.py; refused for other roles, departments and anonymous users below
DATA_PAGE_WRITE_ROUTES = {("POST", "/data/verify")}


def _served(db, world, tmp_path):
    with db.session() as s:
        return served_population(s, world, tmp_path, verify_only=True, items=["gmsfhm", "xm", "csrq"])


def _verify(client, grant_id: int, **fields):
    return client.post("/data/verify", data={"csrf_token": token(client), "grant": str(grant_id),
                                             **{f"field_{name}": value for name, value in fields.items()}})


def _records(db) -> list[UsageRecord]:
    with db.session() as s:
        return list(s.scalars(select(UsageRecord).order_by(UsageRecord.seq)))


def test_r09_a_clerk_verifies_a_record_and_reads_match_no_match_or_not_found(db, world, tmp_path, as_user):
    served = _served(db, world, tmp_path)
    person = served.rows[3]
    client = as_user("civil_requester")
    grants = client.get("/sharing/grants?box=outgoing").text
    assert f'href="/data/verify?grant={served.grant_id}"' in grants
    assert f'href="/data/preview?grant={served.grant_id}"' not in grants and "该授权仅限核验" in grants
    form = client.get(f"/data/verify?grant={served.grant_id}")
    assert form.status_code == 200 and "公民身份号码（主键）" in visible_text(form)
    match = _verify(client, served.grant_id, gmsfhm=person["GMSFHM"], xm=person["XM"])
    assert match.status_code == 200 and "核验结果：一致" in visible_text(match)
    assert person["CSRQ"] not in match.text and person["HJDZ"] not in match.text  # no data is shown
    other = _verify(client, served.grant_id, gmsfhm=person["GMSFHM"], xm="张冒名")
    assert "核验结果：不一致" in visible_text(other)
    nobody = _verify(client, served.grant_id, gmsfhm="110101190001010000", xm=person["XM"])
    assert "核验结果：无记录" in visible_text(nobody)
    records = _records(db)[-3:]
    assert [r.mode for r in records] == ["verify"] * 3 and [r.result for r in records] == ["ok", "ok", "not_found"]
    assert all(r.user_id == world.ids["user:civil_requester"] and r.grant_id == served.grant_id for r in records)
    assert f"已记入使用记录（序号 {records[-1].seq}）" in visible_text(nobody)


def test_r09_an_empty_verification_names_the_field_and_keeps_nothing(db, world, tmp_path, as_user):
    served = _served(db, world, tmp_path)
    before = len(_records(db))
    empty = _verify(as_user("civil_requester"), served.grant_id, gmsfhm=" ", xm="")
    assert empty.status_code == 422 and "请至少填写一个要核验的信息项" in visible_text(empty)
    assert len(_records(db)) == before


def test_r09_only_the_requesting_departments_clerks_may_verify(db, world, tmp_path, as_user, client):
    served = _served(db, world, tmp_path)
    person = served.rows[0]
    for username in ("police_reviewer", "police_manager", "auditor", "reviewer"):
        other = as_user(username)
        assert other.get(f"/data/verify?grant={served.grant_id}").status_code in (403, 404), username
        refused = _verify(other, served.grant_id, gmsfhm=person["GMSFHM"], xm=person["XM"])
        assert refused.status_code in (403, 404) and "核验结果" not in refused.text, username
    client.cookies.clear()
    anonymous = client.post("/data/verify", data={"grant": str(served.grant_id), "field_gmsfhm": person["GMSFHM"]},
                            follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    forged = as_user("civil_requester").post("/data/verify", data={"grant": str(served.grant_id),
                                                                   "field_gmsfhm": person["GMSFHM"]})
    assert forged.status_code == 403 and "核验结果" not in forged.text  # no CSRF token
    assert not [r for r in _records(db) if r.mode == "verify" and r.result == "ok"]


def test_r09_an_entry_shared_by_verification_takes_only_verify_only_requests(db, world, as_user, client):
    """Issue 14: an entry whose share method is 核验 refuses an ordinary request at submit (API and page), the
    request form ticks 仅核验 for it and cannot untick it, and the grant it gives is verification only."""
    from datetime import date, timedelta

    from govshare.errors import ValidationFailed
    from govshare.sharing import service as sharing
    from govshare.sharing.models import Grant, ShareRequest
    from govshare.sharing.schemas import ReplyIn
    from tests.factories import consumer_system, published_entry, request_in

    with db.session() as s:
        entry = published_entry(s, world, name="婚姻登记信息", share_method="核验")
        system = consumer_system(s, world)[0]
        entry_id, item_ids, system_id = entry.id, [i.id for i in entry.items], system.id
        try:
            sharing.create_request(s, world.actors["civil_requester"], request_in(entry, consumer_system_id=system.id),
                                   submit=True)
            raise AssertionError("an ordinary request for a verification-only entry was accepted")
        except ValidationFailed as refused:
            assert refused.field == "verify_only" and "仅提供核验服务" in refused.message
    api = client.post("/api/v1/sharing/requests", headers=world.headers("civil_requester"), json={
        "entry_id": entry_id, "purpose": "婚姻状况核验", "scenario": "公积金贷款审核时核验婚姻状况",
        "duty_basis": "《住房公积金管理条例》", "item_ids": item_ids[:2], "consumer_system_id": system_id,
        "period_end": (date.today() + timedelta(days=90)).isoformat(), "submit": True})
    assert api.status_code == 422 and api.json()["error"]["field"] == "verify_only"
    page = as_user("civil_requester")
    form = page.get(f"/sharing/requests/new?entry_id={entry_id}")
    assert '<input type="hidden" name="verify_only" value="1">' in form.text and "checked disabled" in form.text
    posted = page.post("/sharing/requests/new", data={
        "csrf_token": token(page), "entry_id": str(entry_id), "purpose": "婚姻状况核验",
        "scenario": "公积金贷款审核时核验婚姻状况", "duty_basis": "《住房公积金管理条例》",
        "item_ids": [str(i) for i in item_ids[:2]], "period_end": (date.today() + timedelta(days=90)).isoformat(),
        "consumer_system_id": str(system_id), "verify_only": "1", "action": "submit"}, follow_redirects=False)
    assert posted.status_code == 303, posted.text
    with db.session() as s:
        request = s.scalars(select(ShareRequest).where(ShareRequest.entry_id == entry_id)).one()
        assert request.verify_only and request.share_method == "verify"
        sharing.reply(s, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
        assert s.scalars(select(Grant).where(Grant.request_id == request.id)).one().verify_only


def test_r09_a_marriage_is_verified_by_the_wifes_id_number_as_well_as_the_husbands(db, world, as_user):
    """Issue 14: a register keyed by one ID number finds its record by another identifier item of the grant (the
    wife's ID number), on the page and through the API; without any identifier the answer names the field."""
    from datetime import date, timedelta

    from govshare.catalog.schemas import ItemIn
    from govshare.gateway import connect
    from govshare.sharing import service as sharing
    from govshare.sharing.schemas import ReplyIn
    from tests.factories import consumer_system, published_entry, request_in
    from tests.gateway_factories import id_number
    from tests.test_sources import csv_bytes

    husband, wife = id_number("340104", date(1990, 3, 1), 11), id_number("340111", date(1992, 6, 9), 22)
    rows = [{"男方身份证号": husband, "女方身份证号": wife, "登记类型": "结婚", "登记日期": "2020-05-20"},
            {"男方身份证号": id_number("340102", date(1985, 1, 2), 33),
             "女方身份证号": id_number("340103", date(1986, 2, 3), 44), "登记类型": "离婚", "登记日期": "2019-01-08"}]
    items = [ItemIn(name="nfsfzh", chinese_name="男方身份证号", data_type="string", length=18, grade="一般4",
                    personal_info="pi"),
             ItemIn(name="nvsfzh", chinese_name="女方身份证号", data_type="string", length=18, grade="一般4",
                    personal_info="pi"),
             ItemIn(name="djlx", chinese_name="登记类型", data_type="string", length=10, grade="一般3",
                    personal_info="pi"),
             ItemIn(name="djrq", chinese_name="登记日期", data_type="date", grade="一般3")]
    with db.session() as s:
        entry = published_entry(s, world, name="婚姻登记信息", share_method="核验", items=items)
        connect.connect_file(s, world.actors["police_manager"], entry.id, csv_bytes(rows), "hy.csv", "nfsfzh")
        system = consumer_system(s, world)[0]
        request = sharing.create_request(s, world.actors["civil_requester"], request_in(
            entry, consumer_system_id=system.id, verify_only=True,
            period_end=date.today() + timedelta(days=90)), submit=True)
        sharing.reply(s, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve"))
        grant_id = sharing.grant_of(s, request.id).id
    client = as_user("civil_requester")
    assert "核验结果：一致" in visible_text(_verify(client, grant_id, nvsfzh=wife, djlx="结婚"))
    assert "核验结果：不一致" in visible_text(_verify(client, grant_id, nvsfzh=wife, djlx="离婚"))
    assert "核验结果：一致" in visible_text(_verify(client, grant_id, nfsfzh=husband, djlx="结婚"))
    assert "核验结果：无记录" in visible_text(_verify(client, grant_id, nvsfzh=husband, djlx="结婚"))
    nothing = _verify(client, grant_id, djlx="结婚")
    assert nothing.status_code == 422 and "核验须给出主键或一个身份标识信息项" in visible_text(nothing)
