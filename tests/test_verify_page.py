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
    assert form.status_code == 200 and "公民身份号码（主键，必填）" in visible_text(form)
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
