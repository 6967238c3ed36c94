"""R05: a catalog change caused by new law or new duties is published within GOVSHARE_LAW_CHANGE_WORKING_DAYS
working days of the date the change took effect: the due date is counted in working days, the provider's
catalog managers are reminded before it, a revision still unpublished after it is marked overdue once (the
managers and the competent authority are told), and publication records whether the deadline was met.

The node here allows 5 working days (not the default 15), and the law takes effect on 2026-09-30, just before
the National Day holidays (10-01 … 10-07 off, Saturday 10-10 a make-up working day): the 5th working day after
it is 2026-10-13, 13 calendar days later; Monday–Friday counting would give 10-07 and the default 10-28."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from govshare import jobs
from govshare.catalog import jobs as catalog_jobs
from govshare.catalog import service as catalog
from govshare.catalog.models import EntryRevision
from govshare.config import Settings
from govshare.errors import ValidationFailed
from govshare.notify.models import Notification
from govshare.workdays import service as workdays
from tests.factories import PASSWORD, population_entry, published_entry
from tests.web_helpers import token

LAW_DAYS = 5
EFFECTIVE = date(2026, 9, 30)  # the day before the National Day holidays of 2026
DUE = date(2026, 10, 13)  # 10-08, 10-09, 10-10 (make-up Saturday), 10-12, 10-13
BASIS = "《社会救助暂行办法》第十二条（2026年修订）"
REMINDER = "catalog.law_change_reminder"
OVERDUE = "catalog.law_change_overdue"


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    """This node gives law changes 5 working days (the default is 15), so a hard-coded 15 would show."""
    return Settings(database_url=db_url, data_dir=tmp_path / "var", law_change_working_days=LAW_DAYS)


def propose(session, world, entry, *, effective: date | None = EFFECTIVE, basis: str = BASIS,
            due_to_law_change: bool = True) -> EntryRevision:
    return catalog.propose_revision(
        session, world.actors["police_manager"], entry.id, population_entry(share_condition="仅限社会救助审核使用"),
        "依据新修订的办法调整共享条件", due_to_law_change=due_to_law_change,
        law_change_basis=basis if due_to_law_change else "", law_effective_date=effective)


def at(day: date) -> datetime:
    """A moment of `day` in the node's zone, as the worker passes it (naive UTC)."""
    return datetime(day.year, day.month, day.day, 10, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC) \
        .replace(tzinfo=None)


def events_of(session, world, username: str) -> list[str]:
    user_id = world.ids[f"user:{username}"]
    return list(session.scalars(select(Notification.event).where(Notification.user_id == user_id)
                                .order_by(Notification.id)))


def run_catalog_jobs(db, day: date) -> dict[str, int]:
    return catalog_jobs.run(db, at(day))


# ---------------------------------------------------------------- the due date


def test_r05_due_date_is_the_effective_date_plus_the_setting_in_working_days(db, world):
    with db.session() as s:
        revision = propose(s, world, published_entry(s, world))
        assert (revision.law_effective_date, revision.law_change_basis) == (EFFECTIVE, BASIS)
        assert revision.due_date == DUE and not revision.due_estimated
        assert (DUE - EFFECTIVE).days == 13  # the holidays are not counted, the make-up Saturday is
        assert revision.due_date == workdays.deadline(s, EFFECTIVE, LAW_DAYS).due


def test_r05_due_date_in_a_year_without_holidays_is_estimated_and_recounted_once_known(db, world):
    """2027's holidays are unknown (the suite's chinese-calendar knows 2026): the due date is counted Monday–
    Friday and flagged; once the admin enters the year, the job counts it again with the official days."""
    effective = date(2027, 3, 1)  # a Monday; beyond today + one year is refused, 2027-03 is within
    with db.session() as s:
        entry = published_entry(s, world)
        revision = propose(s, world, entry, effective=effective)
        assert (revision.due_date, revision.due_estimated) == (date(2027, 3, 8), True)
        out = catalog.revision_out(s, revision, today=date(2027, 3, 1))
        assert out["deadline_warning"] == workdays.ESTIMATE_WARNING
        workdays.set_day(s, world.actors["admin"], date(2027, 3, 3), False, "测试假日")
        revision_id = revision.id
    assert run_catalog_jobs(db, date(2027, 3, 1)) == {"law_change_deadlines_recounted": 1}
    with db.session() as s:
        revision = s.get(EntryRevision, revision_id)
        assert (revision.due_date, revision.due_estimated) == (date(2027, 3, 9), False)


def test_r05_revision_not_caused_by_law_has_no_deadline(db, world):
    with db.session() as s:
        revision = propose(s, world, published_entry(s, world), effective=None, due_to_law_change=False)
        assert not revision.due_to_law_change and revision.due_date is None
        out = catalog.revision_out(s, revision, today=date(2026, 12, 31))
        assert (out["due_date"], out["remaining_working_days"], out["overdue"]) == (None, None, False)
    assert run_catalog_jobs(db, date(2026, 12, 31)) == {}  # nothing to remind of or mark
    with db.session() as s:
        assert events_of(s, world, "police_manager") == []


# ---------------------------------------------------------------- reminder and overdue mark (the worker)


def test_r05_managers_are_reminded_once_before_the_due_date(db, world):
    with db.session() as s:
        propose(s, world, published_entry(s, world))
    # 10-08: 4 working days left (10-09, 10-10, 10-12, 10-13), more than the 2 of the reminder setting
    assert run_catalog_jobs(db, date(2026, 10, 8)) == {}
    assert run_catalog_jobs(db, date(2026, 10, 12)) == {"law_change_reminded": 1}  # 1 working day left
    assert run_catalog_jobs(db, date(2026, 10, 13)) == {}  # once
    with db.session() as s:
        assert events_of(s, world, "police_manager") == [REMINDER]
        assert events_of(s, world, "reviewer") == [REMINDER]  # the revision awaits the authority's review
        assert events_of(s, world, "civil_manager") == []  # another department's managers
        [revision] = s.scalars(select(EntryRevision)).all()
        assert revision.reminded_at is not None and revision.overdue_at is None
        out = catalog.revision_out(s, revision, today=date(2026, 10, 12))
        assert (out["remaining_working_days"], out["overdue"]) == (1, False)


def test_r05_unpublished_revision_is_marked_overdue_once_and_the_authority_told(db, world):
    with db.session() as s:
        propose(s, world, published_entry(s, world))
    assert run_catalog_jobs(db, DUE) == {"law_change_reminded": 1}  # still due today: not overdue yet
    assert run_catalog_jobs(db, DUE + timedelta(days=1)) == {"law_change_overdue": 1}
    assert run_catalog_jobs(db, DUE + timedelta(days=30)) == {}  # once
    with db.session() as s:
        [revision] = s.scalars(select(EntryRevision)).all()
        assert revision.overdue_at is not None and revision.deadline_met is None
        assert events_of(s, world, "police_manager") == [REMINDER, OVERDUE]
        assert events_of(s, world, "reviewer") == [REMINDER, OVERDUE]
        assert events_of(s, world, "city_reviewer") == []  # not the authority of the provincial department
        out = catalog.revision_out(s, revision, today=DUE + timedelta(days=1))
        assert out["overdue"] and out["remaining_working_days"] is None


def test_r05_the_worker_runs_the_catalog_jobs(db, world):
    with db.session() as s:
        propose(s, world, published_entry(s, world))
    assert jobs.run_all(db, at(DUE + timedelta(days=1)))["catalog"] == {"law_change_overdue": 1}


def test_r05_publishing_by_the_due_date_meets_the_rule_and_nothing_is_marked(db, world):
    with db.session() as s:
        today = workdays.local_today(s)
        revision = propose(s, world, published_entry(s, world), effective=today)  # due LAW_DAYS working days on
        due = revision.due_date
        assert due > today and workdays.WorkCalendar(s).working_days_between(today, due) == LAW_DAYS
        catalog.approve_revision(s, world.actors["reviewer"], revision.id)
        assert revision.deadline_met is True
        out = catalog.revision_out(s, revision, today=today)
        assert (out["overdue"], out["remaining_working_days"], out["deadline_met"]) == (False, None, True)
    assert run_catalog_jobs(db, due - timedelta(days=1)) == {}  # no reminder for a published revision
    assert run_catalog_jobs(db, due + timedelta(days=30)) == {}  # and never overdue
    with db.session() as s:
        assert OVERDUE not in events_of(s, world, "police_manager")


def test_r05_publishing_after_the_due_date_is_recorded_as_late(db, world):
    with db.session() as s:
        revision = propose(s, world, published_entry(s, world))  # due 2026-10-13, long past
        catalog.approve_revision(s, world.actors["reviewer"], revision.id)
        assert revision.deadline_met is False


def test_r05_a_returned_revision_still_owes_the_change_and_the_next_one_keeps_its_deadline(db, world):
    """Returning does not stop the clock: the returned revision is marked overdue if nothing follows, and the
    manager's next revision inherits the law change and its due date (set by the law, not the new proposal)."""
    with db.session() as s:
        entry = published_entry(s, world)
        first = propose(s, world, entry)
        catalog.return_revision(s, world.actors["reviewer"], first.id, "共享条件仍不具体")
        entry_id = entry.id
    assert run_catalog_jobs(db, DUE + timedelta(days=1)) == {"law_change_overdue": 1}
    with db.session() as s:
        entry = catalog.get_entry(s, world.actors["police_manager"], entry_id)
        second = propose(s, world, entry, effective=None, due_to_law_change=False)
        assert second.due_to_law_change and (second.due_date, second.law_change_basis) == (DUE, BASIS)
        assert second.overdue_at is not None  # already told: not marked a second time
    assert run_catalog_jobs(db, DUE + timedelta(days=2)) == {}
    with db.session() as s:
        assert events_of(s, world, "police_manager").count(OVERDUE) == 1


# ---------------------------------------------------------------- what is refused


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"effective": None}, "law_effective_date", "生效日期"),
    ({"effective": date.today() + timedelta(days=3650)}, "law_effective_date", "不得晚于"),
    ({"basis": "  "}, "law_change_basis", "法律法规"),
    ({"due_to_law_change": False}, "due_to_law_change", "勾选"),  # a date and basis without the flag
])
def test_r05_incomplete_law_change_is_refused_naming_the_field(db, world, changes, field, words):
    with db.session() as s:
        entry = published_entry(s, world)
        kwargs = {"effective": changes.get("effective", EFFECTIVE), "basis": changes.get("basis", BASIS)}
        with pytest.raises(ValidationFailed) as err:
            if changes.get("due_to_law_change") is False:
                catalog.propose_revision(s, world.actors["police_manager"], entry.id, population_entry(), "调整",
                                         law_change_basis=BASIS, law_effective_date=EFFECTIVE)
            else:
                propose(s, world, entry, **kwargs)
        assert err.value.field == field and words in err.value.message
        assert s.scalars(select(EntryRevision)).all() == []


# ---------------------------------------------------------------- the API


def revision_body(**overrides) -> dict:
    body = {"entry": population_entry(share_condition="仅限社会救助审核使用").model_dump(mode="json"),
            "reason": "依据新修订的办法调整共享条件", "due_to_law_change": True, "law_change_basis": BASIS,
            "law_effective_date": EFFECTIVE.isoformat()}
    body.update(overrides)
    return body


def test_r05_api_revision_output_carries_the_deadline(client, db, world):
    with db.session() as s:
        entry_id = published_entry(s, world).id
    path = f"/api/v1/catalog/entries/{entry_id}/revisions"
    created = client.post(path, json=revision_body(), headers=world.headers("police_manager"))
    assert created.status_code == 201, created.text
    out = created.json()
    assert out["law_change_basis"] == BASIS and out["law_effective_date"] == "2026-09-30"
    assert (out["due_date"], out["due_estimated"], out["deadline_warning"]) == ("2026-10-13", False, "")
    assert (out["overdue"], out["remaining_working_days"], out["overdue_at"], out["deadline_met"]) == (
        True, None, None, None)  # today is past 2026-10-13 and it is not published
    run_catalog_jobs(db, DUE + timedelta(days=1))
    [listed] = client.get(path, headers=world.headers("civil_requester")).json()
    assert listed["due_date"] == "2026-10-13" and listed["overdue"] and listed["overdue_at"].endswith("Z")
    approved = client.post(f"/api/v1/catalog/revisions/{out['id']}/approve", headers=world.headers("reviewer"))
    assert approved.status_code == 200, approved.text
    [listed] = client.get(path, headers=world.headers("police_manager")).json()
    assert (listed["overdue"], listed["deadline_met"]) == (False, False)


def test_r05_api_revision_not_caused_by_law_has_no_deadline(client, db, world):
    with db.session() as s:
        entry_id = published_entry(s, world).id
    response = client.post(f"/api/v1/catalog/entries/{entry_id}/revisions", headers=world.headers("police_manager"),
                           json=revision_body(due_to_law_change=False, law_change_basis="", law_effective_date=None))
    assert response.status_code == 201, response.text
    out = response.json()
    assert (out["due_date"], out["remaining_working_days"], out["overdue"], out["deadline_met"]) == (
        None, None, False, None)


@pytest.mark.parametrize(("overrides", "field", "words"), [
    ({"law_effective_date": None}, "law_effective_date", "生效日期"),
    ({"law_effective_date": (date.today() + timedelta(days=3650)).isoformat()}, "law_effective_date", "不得晚于"),
    ({"law_effective_date": "2026-13-01"}, "law_effective_date", "日期"),
    ({"law_change_basis": ""}, "law_change_basis", "法律法规"),
])
def test_r05_api_invalid_law_change_is_a_chinese_422_naming_the_field(client, db, world, overrides, field, words):
    with db.session() as s:
        entry_id = published_entry(s, world).id
    response = client.post(f"/api/v1/catalog/entries/{entry_id}/revisions", json=revision_body(**overrides),
                           headers=world.headers("police_manager"))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field and words in error["message"], error
    with db.session() as s:
        assert s.scalars(select(EntryRevision)).all() == []


# ---------------------------------------------------------------- the pages


def logged_in(client, username: str):
    client.cookies.clear()
    response = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


def test_r05_pages_show_the_due_date_remaining_days_and_the_overdue_mark(client, db, world):
    with db.session() as s:
        late_entry = published_entry(s, world)
        propose(s, world, late_entry)  # due 2026-10-13: overdue
        timely_entry = published_entry(s, world, name="人口迁移信息")
        today = workdays.local_today(s)
        timely = propose(s, world, timely_entry, effective=today)
        remaining = workdays.WorkCalendar(s).working_days_between(today, timely.due_date)
        late_id, timely_due = late_entry.id, timely.due_date
    detail = logged_in(client, "civil_requester").get(f"/catalog/{late_id}")
    assert detail.status_code == 200
    assert "发布期限" in detail.text and "2026-10-13" in detail.text and "已逾期" in detail.text
    assert BASIS in detail.text and "2026-09-30 生效" in detail.text
    queue = logged_in(client, "reviewer").get("/review")
    assert queue.status_code == 200
    rows = queue.text.split("待审核修订", 1)[1]
    assert "2026-10-13" in rows and "已逾期" in rows
    assert str(timely_due) in rows and f"剩余 {remaining} 个工作日" in rows
    assert rows.index("2026-10-13") < rows.index(str(timely_due))  # the earliest due first


def entry_form(entry) -> dict[str, str]:
    """The entry form's fields for an EntryIn, as a browser posts them."""
    data = entry.model_dump(mode="json")
    form = {key: "" if data[key] is None else str(data[key]) for key in data if key not in ("items", "related_codes")}
    form["related_codes"] = " ".join(data["related_codes"])
    for index, item in enumerate(data["items"]):
        form.update({f"item-{index}-{key}": "" if value is None else str(value) for key, value in item.items()})
    return form


def test_r05_revise_form_asks_for_what_changed_and_the_effective_date(client, db, world):
    with db.session() as s:
        entry_id = published_entry(s, world).id
    manager = logged_in(client, "police_manager")
    page = manager.get(f"/my/catalog/{entry_id}/revise")
    assert 'name="law_effective_date"' in page.text and 'name="law_change_basis"' in page.text
    assert f"生效日期后 {LAW_DAYS} 个工作日内" in page.text
    form = {**entry_form(population_entry(share_condition="仅限社会救助审核使用")), "csrf_token": token(manager),
            "reason": "依据新职责调整", "due_to_law_change": "1", "law_change_basis": BASIS}
    refused = manager.post(f"/my/catalog/{entry_id}/revise", data={**form, "law_effective_date": ""})
    assert refused.status_code == 422 and "须填写变化的生效日期" in refused.text
    assert BASIS in refused.text  # what was typed is kept
    malformed = manager.post(f"/my/catalog/{entry_id}/revise", data={**form, "law_effective_date": "2026-9-31"})
    assert malformed.status_code == 422 and "生效日期的格式应为" in malformed.text
    done = manager.post(f"/my/catalog/{entry_id}/revise", data={**form, "law_effective_date": "2026-09-30"})
    assert done.status_code == 200 and "修订已提交" in done.text
    with db.session() as s:
        [revision] = s.scalars(select(EntryRevision)).all()
        assert (revision.law_effective_date, revision.due_date) == (EFFECTIVE, DUE)
