"""Departments, users, passwords and tokens (R18: unified authentication, separate roles)."""

import re

import pytest

from govshare.authz import Actor
from govshare.errors import Conflict, Forbidden, NotAuthenticated, ValidationFailed
from govshare.orgs import service as orgs
from govshare.orgs.models import User
from tests.conftest import REAL
from tests.factories import PASSWORD, SYSTEM, make_uscc

VECTORS = REAL / "vectors" / "stdnum_test_cn_uscc.doctest"


def _valid_vector_codes() -> list[str]:
    text = VECTORS.read_text(encoding="utf-8")
    return re.findall(r"^\.\.\. ([0-9A-Z]{18})$", text, flags=re.MULTILINE)


def test_uscc_vectors_all_accepted():
    codes = _valid_vector_codes()
    assert len(codes) >= 380
    assert all(orgs.validate_uscc(code) == code for code in codes)


@pytest.mark.parametrize("bad", ["12345", "A1110000600037341L", "9111000060003IOZSV", "91110000600037341N"])
def test_uscc_invalid_codes_rejected_naming_the_field(bad):
    with pytest.raises(ValidationFailed) as err:
        orgs.validate_uscc(bad)
    assert err.value.field == "uscc"


@pytest.mark.parametrize("bad", ["34000", "3400000", "990000", "abcdef"])
def test_region_code_must_be_six_digits_of_a_real_province(bad):
    with pytest.raises(ValidationFailed) as err:
        orgs.validate_region_code(bad)
    assert err.value.field == "region_code"


def test_department_with_bad_uscc_stores_nothing(db):
    with db.session() as s, pytest.raises(ValidationFailed):
        orgs.create_department(s, SYSTEM, name="省公安厅", level="provincial", region_code="340000",
                               uscc_code="91110000600037341N")
    with db.session() as s:
        assert orgs.list_departments(s) == []


def test_duplicate_department_and_uscc_conflict(db):
    with db.session() as s:
        orgs.create_department(s, SYSTEM, name="省公安厅", level="provincial", region_code="340000",
                               uscc_code=make_uscc(1))
        with pytest.raises(Conflict):
            orgs.create_department(s, SYSTEM, name="省公安厅", level="provincial", region_code="340000")
        with pytest.raises(Conflict) as err:
            orgs.create_department(s, SYSTEM, name="省民政厅", level="provincial", region_code="340000",
                                   uscc_code=make_uscc(1))
        assert err.value.field == "uscc"
        # the same name in another region is another department
        orgs.create_department(s, SYSTEM, name="省公安厅", level="provincial", region_code="360000")


def test_r18_only_platform_admin_creates_departments_and_users(db, world):
    with db.session() as s:
        for who in ("reviewer", "police_manager", "auditor", "civil_requester"):
            with pytest.raises(Forbidden):
                orgs.create_department(s, world.actors[who], name="新部门", level="provincial",
                                       region_code="340000")
            with pytest.raises(Forbidden):
                orgs.create_user(s, world.actors[who], username=f"x-{who}", password=PASSWORD,
                                 role="requester", department_id=world.ids["police"])


def test_r18_passwords_are_stored_as_argon2_hashes(db, world):
    with db.session() as s:
        user = s.get(User, world.ids["user:police_manager"])
        assert user.password_hash.startswith("$argon2")
        assert PASSWORD not in user.password_hash


def test_login_refuses_a_wrong_password(db, world):
    with db.session() as s, pytest.raises(NotAuthenticated):
        orgs.login(s, "police_manager", "wrong-password", session_hours=1)


def test_short_password_rejected(db, world):
    with db.session() as s, pytest.raises(ValidationFailed) as err:
        orgs.create_user(s, SYSTEM, username="short", password="123", role="requester",
                         department_id=world.ids["police"])
    assert err.value.field == "password"


def test_r18_api_token_acts_as_its_user_until_revoked(db, world):
    with db.session() as s:
        token = orgs.create_api_token(s, world.actors["police_manager"], name="目录同步程序", max_days=365)
        actor = orgs.authenticate(s, token)
        assert (actor.username, actor.department_id) == ("police_manager", world.ids["police"])
        from sqlalchemy import select

        from govshare.orgs.models import ApiToken

        stored = s.scalars(select(ApiToken).where(ApiToken.name == "目录同步程序")).one()
        assert token not in stored.token_hash  # only the hash is kept
        orgs.revoke_token(s, world.actors["police_manager"], stored.id)
        with pytest.raises(NotAuthenticated):
            orgs.authenticate(s, token)


def test_r18_expired_session_token_refused(db, world):
    from datetime import timedelta

    from sqlalchemy import update

    from govshare.db import utcnow
    from govshare.orgs.models import ApiToken

    with db.session() as s:
        s.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(minutes=1)))
    with db.session() as s, pytest.raises(NotAuthenticated):
        orgs.authenticate(s, world.tokens["police_manager"])


def test_api_login_and_me(client, world):
    response = client.post("/api/v1/auth/login", json={"username": "civil_manager", "password": PASSWORD})
    assert response.status_code == 200
    token = response.json()["token"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["username"] == "civil_manager" and me["department_id"] == world.ids["civil"]
    bad = client.post("/api/v1/auth/login", json={"username": "civil_manager", "password": "nope-nope"})
    assert bad.status_code == 401 and bad.json()["error"]["field"] == "password"


def test_api_create_department_validates_uscc(client, world):
    body = {"name": "省医保局", "level": "provincial", "region_code": "340000", "uscc": "91110000600037341N"}
    response = client.post("/api/v1/departments", json=body, headers=world.headers("admin"))
    assert response.status_code == 422 and response.json()["error"]["field"] == "uscc"
    body["uscc"] = make_uscc(99)
    created = client.post("/api/v1/departments", json=body, headers=world.headers("admin"))
    assert created.status_code == 201 and created.json()["uscc"] == body["uscc"]


def test_openapi_documents_the_api(client):
    spec = client.get("/openapi.json").json()
    assert "/api/v1/catalog/entries" in spec["paths"]
    assert "/api/v1/auth/login" in spec["paths"]


def test_system_actor_is_not_a_user():
    assert Actor.system().is_system and Actor.system().user_id is None


def test_cli_creates_the_sqlite_folder_on_a_fresh_checkout(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from govshare.cli import app
    from govshare.config import get_settings

    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(tmp_path / "fresh" / "var"))
    monkeypatch.delenv("GOVSHARE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fresh" / "var" / "govshare.db").exists()


# ---------------------------------------------------------------- R18: token lifetime, revoking users and tokens


def _token_row(session, name: str):
    from sqlalchemy import select

    from govshare.orgs.models import ApiToken

    return session.scalars(select(ApiToken).where(ApiToken.name == name)).one()


def test_r18_api_token_without_hours_lives_the_maximum_and_longer_is_refused(db, world):
    from datetime import timedelta

    from govshare.db import utcnow

    actor = world.actors["police_manager"]
    with db.session() as s:
        orgs.create_api_token(s, actor, name="默认有效期", max_days=30)
        lifetime = _token_row(s, "默认有效期").expires_at - utcnow()
        assert timedelta(days=30) - timedelta(minutes=5) < lifetime <= timedelta(days=30)
        orgs.create_api_token(s, actor, name="正好上限", max_days=30, hours=30 * 24)
        for hours, says in ((30 * 24 + 1, "不能超过30天（720小时）"), (0, "至少为1小时"), (-5, "至少为1小时")):
            with pytest.raises(ValidationFailed) as err:
                orgs.create_api_token(s, actor, name="过长", max_days=30, hours=hours)
            assert err.value.field == "hours" and says in err.value.message


def test_r18_api_token_lifetime_setting_applies_to_the_route(client, app, world):
    app.state.settings = app.state.settings.model_copy(update={"api_token_max_days": 2})
    too_long = client.post("/api/v1/auth/tokens", json={"name": "x", "hours": 49}, headers=world.headers("admin"))
    assert too_long.status_code == 422, too_long.text
    error = too_long.json()["error"]
    assert error["field"] == "hours" and "不能超过2天" in error["message"]
    made = client.post("/api/v1/auth/tokens", json={"name": "两天"}, headers=world.headers("admin"))
    assert made.status_code == 201
    listed = client.get("/api/v1/auth/tokens", headers=world.headers("admin")).json()
    row = next(r for r in listed if r["name"] == "两天")
    assert row["kind"] == "api" and row["expires_at"] and row["revoked_at"] is None


def test_r18_settings_default_api_token_lifetime_is_a_year(monkeypatch):
    from govshare.config import Settings

    monkeypatch.delenv("GOVSHARE_API_TOKEN_MAX_DAYS", raising=False)
    assert Settings().api_token_max_days == 365
    monkeypatch.setenv("GOVSHARE_API_TOKEN_MAX_DAYS", "90")
    assert Settings().api_token_max_days == 90


def test_r18_deactivated_user_cannot_log_in_or_use_any_token(db, world):
    with db.session() as s:
        program = orgs.create_api_token(s, world.actors["civil_manager"], name="程序", max_days=365)
    with db.session() as s:
        orgs.set_user_active(s, world.actors["admin"], world.ids["user:civil_manager"], active=False)
    with db.session() as s:
        for token in (program, world.tokens["civil_manager"]):
            with pytest.raises(NotAuthenticated):
                orgs.authenticate(s, token)
        with pytest.raises(NotAuthenticated):
            orgs.login(s, "civil_manager", PASSWORD, session_hours=1)
        assert _token_row(s, "程序").revoked_at is not None
        assert orgs.authenticate(s, world.tokens["civil_requester"]).username == "civil_requester"


def test_r18_only_platform_admin_deactivates_users(db, world):
    with db.session() as s:
        for who in ("reviewer", "police_manager", "civil_manager", "auditor"):
            with pytest.raises(Forbidden):
                orgs.set_user_active(s, world.actors[who], world.ids["user:civil_requester"], active=False)
        assert s.get(User, world.ids["user:civil_requester"]).is_active


def test_r18_cli_lists_and_deactivates_users_and_revokes_tokens(db, db_url, world, monkeypatch):
    from typer.testing import CliRunner

    from govshare.cli import app
    from govshare.config import get_settings

    with db.session() as s:
        program = orgs.create_api_token(s, world.actors["police_manager"], name="命令行吊销", max_days=365)
        token_id = _token_row(s, "命令行吊销").id
    monkeypatch.setenv("GOVSHARE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        listed = runner.invoke(app, ["user", "list"])
        tokens = runner.invoke(app, ["token", "list", "police_manager"])
        revoked = runner.invoke(app, ["token", "revoke", str(token_id)])
        missing = runner.invoke(app, ["token", "revoke", "999999"])
        deactivated = runner.invoke(app, ["user", "deactivate", "civil_manager"])
        unknown = runner.invoke(app, ["user", "deactivate", "nobody"])
        listed_after = runner.invoke(app, ["user", "list"])
    finally:
        get_settings.cache_clear()
    assert listed.exit_code == 0, listed.output
    assert "civil_manager" in listed.output and "auditor" in listed.output
    assert tokens.exit_code == 0 and "命令行吊销" in tokens.output
    assert revoked.exit_code == 0, revoked.output
    assert missing.exit_code == 2
    assert deactivated.exit_code == 0, deactivated.output
    assert unknown.exit_code == 2
    assert "已停用" in listed_after.output
    with db.session() as s:
        with pytest.raises(NotAuthenticated):
            orgs.authenticate(s, program)
        with pytest.raises(NotAuthenticated):
            orgs.authenticate(s, world.tokens["civil_manager"])
        assert not s.get(User, world.ids["user:civil_manager"]).is_active
        assert orgs.authenticate(s, world.tokens["police_manager"]).username == "police_manager"
