"""How errors leave the server (R18: one error contract for programs, Chinese pages for people): the API
answers `{"error": {code, message, field}}` with its headers; a page path answers the Chinese error page
inside the site's layout; an unexpected failure is neither plain "Internal Server Error" nor a traceback."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, field_validator

from govshare.validation import rule_of, validation_message
from tests.factories import PASSWORD

ENGLISH = ("Internal Server Error", "Not Found", "Method Not Allowed", "Traceback", '"detail"', "Input should")


@pytest.fixture
def failing_app(app):
    """The app with two routes that fail as a bug would (the error handlers are the app's own)."""

    @app.get("/api/v1/test-failure", include_in_schema=False)
    def api_failure():
        raise RuntimeError("boom")

    @app.get("/test-failure", include_in_schema=False)
    def page_failure():
        raise RuntimeError("boom")

    return app


def _page_login(client: TestClient, username: str) -> None:
    response = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"},
                           follow_redirects=False)
    assert response.status_code == 303


def assert_chinese_page(response, status: int, title: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert f"<h1>{title}</h1>" in response.text
    assert 'lang="zh-CN"' in response.text and "政务数据共享平台" in response.text  # the site's layout
    assert not any(word in response.text for word in ENGLISH), response.text


def test_r18_unexpected_failure_on_the_api_is_the_error_shape_not_plain_text(failing_app, world):
    with TestClient(failing_app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/test-failure")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "internal_error" and "服务器内部错误" in error["message"]
    assert "boom" not in response.text  # nothing of the failure's internals leaks


def test_r18_unexpected_failure_on_a_page_is_a_chinese_page_with_the_users_navigation(failing_app, world):
    with TestClient(failing_app, raise_server_exceptions=False) as client:
        _page_login(client, "civil_requester")
        response = client.get("/test-failure")
    assert_chinese_page(response, 500, "服务器内部错误")
    assert "civil_requester" in response.text and "退出登录" in response.text
    assert "boom" not in response.text


def test_unknown_page_is_a_chinese_404_in_the_layout(client, world):
    _page_login(client, "civil_requester")
    response = client.get("/sharing/no-such-page", headers={"Accept": "text/html"})
    assert_chinese_page(response, 404, "页面不存在")
    assert "civil_requester" in response.text


def test_page_with_an_id_that_is_not_a_number_is_a_chinese_404(client, world):
    _page_login(client, "civil_requester")
    for path in ("/sharing/requests/abc", "/sharing/requests/99999999999999999999"):
        assert_chinese_page(client.get(path), 404, "页面不存在")


def test_unknown_api_path_is_a_json_404(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_405_names_every_method_of_the_path_in_allow(client, world):
    response = client.put("/api/v1/sharing/requests", headers=world.headers("civil_requester"))
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}  # two routes share the path
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_405_on_a_page_path_is_a_chinese_page_with_allow(client, world):
    response = client.put("/catalog")
    assert_chinese_page(response, 405, "不支持的请求方式")
    assert response.headers["allow"] == "GET, HEAD"


def test_r18_401_says_bearer_in_www_authenticate(client, world):
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = client.get("/api/v1/notifications", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "not_authenticated"


def test_logged_out_page_still_goes_to_the_login_form(client):
    response = client.get("/notifications", follow_redirects=False)
    assert response.status_code in (302, 303, 307)
    assert response.headers["location"].startswith("/login")


def test_validation_errors_name_the_field_and_the_rule_in_chinese(client, world):
    response = client.get("/api/v1/sharing/requests?limit=0", headers=world.headers("civil_requester"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "limit" and error["message"] == "字段 limit 应不小于 1"
    response = client.post("/api/v1/auth/login", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"] == {"code": "validation_failed", "field": "body",
                                        "message": "字段 body 不是有效的 JSON"}


@pytest.mark.parametrize(("error", "rule"), [
    ({"type": "missing", "loc": ("body", "purpose")}, "必须填写"),
    ({"type": "less_than_equal", "loc": ("query", "offset"), "ctx": {"le": 1000000000}}, "应不大于 1000000000"),
    ({"type": "string_too_long", "loc": ("body", "reason"), "ctx": {"max_length": 500}}, "最多 500 个字符"),
    ({"type": "enum", "loc": ("query", "box"), "ctx": {"expected": "'outgoing' or 'incoming'"}},
     "应为以下之一：'outgoing' or 'incoming'"),
    ({"type": "value_error", "loc": ("body", "x"), "msg": "Value error, 用途不能为空"}, "用途不能为空"),
    ({"type": "some_new_pydantic_type", "loc": ("body", "x"), "msg": "Something English"}, "不符合要求"),
    ({"type": "value_error", "loc": ("body", "file"),
      "msg": "Value error, Expected UploadFile, received: <class 'str'>"}, "应为上传的文件"),
    ({"type": "value_error", "loc": ("body", "x"), "msg": "Value error, some library's English"}, "不符合要求"),
])
def test_pydantic_rules_read_in_chinese(error, rule):
    assert rule_of(error) == rule
    field, message = validation_message(error)
    assert message == f"字段 {field} {rule}"


def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(client, world):
    response = client.post("/api/v1/demands", content=b'{"need": "\xff\xfe"}',
                           headers={**world.headers("civil_requester"), "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body"


def _demand_count(db) -> int:
    from sqlalchemy import func, select

    from govshare.demands.models import Demand

    with db.session() as session:
        return session.scalar(select(func.count()).select_from(Demand))


def test_a_nul_character_in_a_json_body_is_a_422_naming_the_field_on_both_databases(client, world, db):
    response = client.post("/api/v1/demands", json={"title": "低保\x00核验", "description": "x"},
                           headers=world.headers("civil_requester"))
    assert response.status_code == 422  # PostgreSQL cannot store U+0000: this was a 500 there
    assert response.json()["error"]["field"] == "title"
    nested = client.post("/api/v1/auth/login", json={"username": ["a", {"b": "\x00"}], "password": "x"})
    assert nested.status_code == 422 and nested.json()["error"]["field"] == "username.1.b"
    assert _demand_count(db) == 0


def test_a_nul_character_in_the_query_string_is_a_422_naming_the_parameter(client, world):
    response = client.get("/api/v1/catalog/search?q=%E6%88%B7%00%E7%B1%8D", headers=world.headers("civil_requester"))
    assert response.status_code == 422 and response.json()["error"]["field"] == "q"


def test_a_nul_character_in_a_page_form_is_a_chinese_error_page(client, world):
    response = client.post("/login", data={"username": "civil\x00requester", "password": PASSWORD, "next": "/"})
    assert_chinese_page(response, 422, "请求参数有误")
    assert "username" in response.text


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul(client, world, db):
    response = client.post("/api/v1/demands", content='{"title": "路径 C:\\\\u0000 说明"}'.encode(),
                           headers={**world.headers("civil_requester"), "Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert response.json()["title"] == "路径 C:\\u0000 说明"


def test_a_malformed_multipart_upload_is_a_422_naming_the_body(client, world):
    response = client.post("/api/v1/sources/file", content=b"--b\r\nNone--b--\r\n",
                           headers={**world.headers("civil_requester"),
                                    "Content-Type": "multipart/form-data; boundary=b"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "body"


def test_digits_that_are_not_ascii_are_not_numbers_on_pages(client, world):
    """str.isdigit() accepts "²" and int() then fails: such values are not ids or page numbers."""
    _page_login(client, "civil_requester")
    assert client.get("/catalog?page=%C2%B2").status_code == 200
    refused = client.get("/catalog?department=%C2%B2")  # the search names the filter it cannot read
    assert refused.status_code == 422 and "提供部门" in refused.text and "Traceback" not in refused.text
    assert_chinese_page(client.get("/sharing/requests/new?entry_id=%C2%B2"), 404, "页面不存在")


def test_superscript_digits_are_not_detected_as_card_numbers():
    from govshare.fields import id_from, is_digits
    from govshare.gateway import profiling

    assert not is_digits("²") and id_from("²") is None and id_from(str(2**31)) is None and id_from("7") == 7
    assert not profiling.is_bank_card("6222" + "²" * 13) and profiling.is_bank_card("4111111111111111")


def test_head_is_get_without_the_body(client, world):
    get = client.get("/api/v1/notifications", headers=world.headers("police_reviewer"))
    head = client.head("/api/v1/notifications", headers=world.headers("police_reviewer"))
    assert head.status_code == get.status_code == 200
    assert head.content == b"" and head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"]
    assert client.head("/login").status_code == 200
    assert client.head("/api/v1/notifications").status_code == 401  # HEAD is checked like GET


# ---------------------------------------------------------------- libraries' messages in Chinese (issue 13)

STDNUM_ENGLISH = ("The number", "checksum", "invalid length", "invalid format")
PYDANTIC_ENGLISH = ("Input should", "Field required", "String should", "Value error", "should have")


@pytest.mark.parametrize(("code", "rule"), [
    ("91110000600037341N", "校验位不正确"),  # InvalidChecksum
    ("9111000060003734", "长度不正确"),  # InvalidLength
    ("91110000600037341I", "格式不正确"),  # InvalidFormat
])
def test_r18_python_stdnum_messages_reach_the_user_in_chinese_naming_the_field(client, world, code, rule):
    body = {"name": "省医保局", "level": "provincial", "region_code": "340000", "uscc": code}
    response = client.post("/api/v1/departments", json=body, headers=world.headers("admin"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "uscc" and error["message"].startswith(f"统一社会信用代码无效：{code}（")
    assert rule in error["message"] and not any(word in error["message"] for word in STDNUM_ENGLISH)


def test_r18_library_exceptions_are_translated_by_class():
    from stdnum.cn import ric, uscc
    from stdnum.exceptions import InvalidComponent, ValidationError

    from govshare.messages import invalid_value, library_rule

    for number, module, rule in (("91110000600037341N", uscc, "校验位不正确"), ("34010419900101001", ric, "长度不正确"),
                                 ("3401041990010100XX", ric, "格式不正确（含不允许的字符或缺少组成部分）")):
        with pytest.raises(ValidationError) as raised:
            module.validate(number)
        assert library_rule(raised.value) == rule, number
    assert library_rule(InvalidComponent()) == "其中的组成部分（如地区码、出生日期）无效"
    assert library_rule(RuntimeError("boom")) is None
    failure = invalid_value(ValueError("some library's English"), "sfzh", "公民身份号码", "x")
    assert (failure.field, failure.message, failure.status_code) == ("sfzh", "公民身份号码无效：x（不符合要求）", 422)


def _pydantic_errors(data: dict) -> list[dict]:
    from pydantic import BaseModel, Field, ValidationError, field_validator
    from stdnum.cn import uscc

    class Department(BaseModel):
        name: str = Field(max_length=5)
        level: int
        code: str = ""

        @field_validator("code")
        @classmethod
        def _code(cls, value: str) -> str:
            return uscc.validate(value) if value else value

    with pytest.raises(ValidationError) as raised:
        Department.model_validate(data)
    return raised.value.errors()


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"level": 1}, "name", "字段 name 必须填写"),  # Field required
    ({"name": 5, "level": 1}, "name", "字段 name 应为文本"),  # Input should be a valid string
    ({"name": "省医疗保障局", "level": 1}, "name", "字段 name 最多 5 个字符"),  # String should have at most 5 ...
    ({"name": "医保局", "level": "一"}, "level", "字段 level 应为整数"),  # Input should be a valid integer
    ({"name": "医保局", "level": 1, "code": "91110000600037341N"}, "code", "字段 code 校验位不正确"),
])
def test_r18_pydantic_messages_are_chinese_by_error_type_naming_the_field(data, field, message):
    from govshare.messages import pydantic_message

    error = _pydantic_errors(data)[0]
    assert pydantic_message(error) == (field, message)


class UsccBody(BaseModel):
    """A request body whose validator calls python-stdnum (its exceptions are ValueErrors: pydantic wraps them)."""

    uscc: str

    @field_validator("uscc")
    @classmethod
    def _valid(cls, value: str) -> str:
        from stdnum.cn import uscc

        return uscc.validate(value)


def test_r18_a_library_error_raised_in_a_request_validator_is_a_chinese_422(app, client):
    @app.post("/api/v1/test-uscc", include_in_schema=False)
    def check(body: UsccBody):
        return {"uscc": body.uscc}

    response = client.post("/api/v1/test-uscc", json={"uscc": "9111000060003734"})
    assert response.status_code == 422
    assert response.json()["error"] == {"code": "validation_failed", "field": "uscc",
                                        "message": "字段 uscc 长度不正确"}
    missing = client.post("/api/v1/test-uscc", json={})
    assert missing.json()["error"]["message"] == "字段 uscc 必须填写"
    assert not any(word in response.text + missing.text for word in STDNUM_ENGLISH + PYDANTIC_ENGLISH)
