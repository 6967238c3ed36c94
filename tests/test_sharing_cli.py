"""`govshare request|grant|system|service-change`: one-stop sharing from the command line, end to end against the
test database (R07–R11). Every command acts as `--user`; the rules are the services'."""

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from govshare.orgs import systems
from govshare.orgs.models import ConsumerSystem
from govshare.sharing.models import DisputeStep, Grant, RequestEvent, ServiceChange, ShareRequest
from tests.factories import published_entry

SECRET = re.compile(r"客户端密钥（client secret）：(\S+)")
CLIENT_ID = re.compile(r"客户端编号（client id）：(\S+)")


@pytest.fixture
def cli(settings, db, monkeypatch):
    """Runs `govshare ARGS...` against the test database; a wide console keeps table cells on one line."""
    from typer.testing import CliRunner

    from govshare import cli as cli_module
    from govshare.config import get_settings

    monkeypatch.setenv("GOVSHARE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setattr(cli_module.console, "width", 240)
    monkeypatch.setattr(cli_module.err_console, "width", 240)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(cli_module.app, [str(a) for a in args])
    get_settings.cache_clear()


@pytest.fixture
def entry(db, world):
    with db.session() as s:
        published = published_entry(s, world)
        return published.id, {i.name: i.id for i in published.items}


def _register(cli, who: str = "civil_requester", name: str = "低保审核系统") -> tuple[str, str]:
    result = cli("system", "register", name, "--description", "低保审核", "--user", who)
    assert result.exit_code == 0, result.output
    return CLIENT_ID.search(result.output).group(1), SECRET.search(result.output).group(1)


def _system_id(db, client_id: str) -> int:
    with db.session() as s:
        return s.scalars(select(ConsumerSystem.id).where(ConsumerSystem.client_id == client_id)).one()


def _create(cli, entry_id: int, system_id: int, *extra) -> int:
    result = cli("request", "create", entry_id, "--purpose", "最低生活保障资格审核",
                 "--scenario", "低保申请受理时核对申请人户籍信息", "--duty-basis", "《社会救助暂行办法》第十一条",
                 "--items", "gmsfhm,姓名,csrq", "--scope-item", "gmsfhm", "--scope-prefix", "3401",
                 "--period-end", (date.today() + timedelta(days=300)).isoformat(), "--system", system_id,
                 "--user", "civil_requester", *extra)
    assert result.exit_code == 0, result.output
    return int(re.search(r"共享申请 (\d+)：", result.output).group(1))


def test_r09_system_secret_is_printed_once_and_never_listed(cli, db, world):
    client_id, secret = _register(cli)
    with db.session() as s:
        assert systems.authenticate_system(s, client_id, secret).name == "低保审核系统"
        stored = s.scalars(select(ConsumerSystem)).one()
        assert stored.secret_hash != secret and secret not in stored.secret_hash
    listed = cli("system", "list", "--user", "civil_requester")
    assert listed.exit_code == 0 and client_id in listed.output and "低保审核系统" in listed.output
    assert secret not in listed.output
    # another department does not see it
    assert client_id not in cli("system", "list", "--user", "police_manager").output

    rotated = cli("system", "rotate", _system_id(db, client_id), "--user", "civil_requester")
    assert rotated.exit_code == 0 and "只显示这一次" in rotated.output
    new_secret = SECRET.search(rotated.output).group(1)
    assert new_secret != secret and new_secret not in cli("system", "list", "--user", "civil_requester").output
    with db.session() as s:
        assert systems.authenticate_system(s, client_id, new_secret)
        with pytest.raises(Exception, match="凭据无效"):
            systems.authenticate_system(s, client_id, secret)

    # the node operator belongs to no department: it cannot register a system for one
    operator = cli("system", "register", "运维系统")
    assert operator.exit_code == 2 and "错误：应用系统必须属于一个部门（字段：department_id）" in operator.output
    # another department cannot revoke it; its own can, at once
    other = cli("system", "revoke", _system_id(db, client_id), "--user", "police_reviewer")
    assert other.exit_code == 2 and "错误：不能管理其他部门的数据" in other.output
    with db.session() as s:
        assert s.get(ConsumerSystem, _system_id(db, client_id)).revoked_at is None
        assert systems.authenticate_system(s, client_id, new_secret)
    revoked = cli("system", "revoke", _system_id(db, client_id), "--user", "civil_requester")
    assert revoked.exit_code == 0 and f"已吊销应用系统 {_system_id(db, client_id)}：低保审核系统" in revoked.output
    with db.session() as s, pytest.raises(Exception, match="凭据无效"):
        systems.authenticate_system(s, client_id, new_secret)


def test_r07_r10_request_reply_list_show_revoke(cli, db, world, entry):
    entry_id, items = entry
    client_id, _secret = _register(cli)
    system_id = _system_id(db, client_id)

    created = cli("request", "create", entry_id, "--purpose", "最低生活保障资格审核",
                  "--scenario", "低保申请受理时核对申请人户籍信息", "--duty-basis", "《社会救助暂行办法》第十一条",
                  "--items", "1,姓名,csrq", "--scope-item", "gmsfhm", "--scope-prefix", "3401",
                  "--period-end", (date.today() + timedelta(days=300)).isoformat(), "--system", system_id,
                  "--submit", "--user", "civil_requester")
    assert created.exit_code == 0, created.output
    assert "待答复" in created.output and "答复期限" in created.output and "gmsfhm 以 3401 开头" in created.output
    request_id = int(re.search(r"共享申请 (\d+)：", created.output).group(1))
    with db.session() as s:
        request = s.get(ShareRequest, request_id)
        assert request.status == "submitted" and request.consumer_system_id == system_id
        assert request.item_ids == [items["gmsfhm"], items["xm"], items["csrq"]]
        assert request.row_scope == {"item": "gmsfhm", "prefixes": ["3401"]} and request.reply_due

    incoming = cli("request", "list", "--box", "incoming", "--user", "police_reviewer")
    assert incoming.exit_code == 0 and "人口基本信息" in incoming.output and "待答复" in incoming.output
    assert str(request.reply_due) in incoming.output

    replied = cli("request", "reply", request_id, "--decision", "approve_in_part", "--items", "gmsfhm,xm",
                  "--rate-limit", "20", "--reason", "出生日期与低保审核无关，按最小必要原则不予提供",
                  "--user", "police_reviewer")
    assert replied.exit_code == 0, replied.output
    assert "部分同意" in replied.output and "共享授权" in replied.output
    with db.session() as s:
        grant = s.scalars(select(Grant).where(Grant.request_id == request_id)).one()
        assert grant.item_ids == [items["gmsfhm"], items["xm"]] and grant.rate_limit == 20
        assert grant.consumer_system_id == system_id and grant.status == "active"

    outgoing = cli("request", "list", "--box", "outgoing", "--status", "部分同意", "--user", "civil_requester")
    assert outgoing.exit_code == 0 and "部分同意" in outgoing.output and "共 1 条" in outgoing.output
    assert "共 0 条" in cli("request", "list", "--status", "refused", "--user", "civil_requester").output
    nonsense = cli("request", "list", "--status", "nonsense", "--user", "civil_requester")
    assert nonsense.exit_code == 2 and "错误：状态取值无效：nonsense" in nonsense.output
    assert "（字段：status）" in nonsense.output

    shown = cli("request", "show", request_id, "--user", "civil_requester")
    assert shown.exit_code == 0, shown.output
    for text in ("办理记录", "创建草稿", "草稿 → 待答复", "待答复 → 部分同意", "police_reviewer",
                 "出生日期与低保审核无关", "低保审核系统"):
        assert text in shown.output, text

    granted = cli("grant", "list", "--user", "civil_requester")
    assert granted.exit_code == 0 and "人口基本信息" in granted.output and "有效" in granted.output
    revoked = cli("grant", "revoke", grant.id, "--reason", "发现超范围调用", "--user", "police_reviewer")
    assert revoked.exit_code == 0, revoked.output
    assert "已终止" in revoked.output and "已撤销" in revoked.output and "尚未确认删除" in revoked.output
    with db.session() as s:
        assert s.get(ShareRequest, request_id).status == "revoked"
        assert s.get(Grant, grant.id).status == "ended"
    confirmed = cli("grant", "confirm-deletion", grant.id, "--note", "已删除缓存", "--user", "civil_requester")
    assert confirmed.exit_code == 0 and "已确认删除数据" in confirmed.output
    history = cli("request", "show", request_id, "--user", "civil_requester").output
    assert "授权被撤销" in history and "确认删除数据" in history


def test_r07_replying_as_the_requester_exits_2_and_changes_nothing(cli, db, world, entry):
    entry_id, _items = entry
    system_id = _system_id(db, _register(cli)[0])
    request_id = _create(cli, entry_id, system_id, "--submit")
    with db.session() as s:
        events = s.scalar(select(func.count(RequestEvent.id)).where(RequestEvent.request_id == request_id))

    refused = cli("request", "reply", request_id, "--decision", "approve", "--user", "civil_requester")
    assert refused.exit_code == 2 and "错误：当前角色无权答复共享申请" in refused.output
    # another department's reviewer may not reply either, nor may the provider reply without reasons to refuse
    city = cli("request", "reply", request_id, "--decision", "approve", "--user", "city_reviewer")
    assert city.exit_code == 2 and "错误：当前角色无权答复共享申请" in city.output
    no_reason = cli("request", "reply", request_id, "--decision", "refuse", "--user", "police_reviewer")
    assert no_reason.exit_code == 2 and "理由" in no_reason.output and "（字段：reason）" in no_reason.output
    maybe = cli("request", "reply", request_id, "--decision", "maybe", "--user", "police_reviewer")
    assert maybe.exit_code == 2 and "（字段：decision）" in maybe.output
    with db.session() as s:
        request = s.get(ShareRequest, request_id)
        assert request.status == "submitted" and request.decision is None
        assert s.scalar(select(func.count(Grant.id))) == 0
        assert s.scalar(select(func.count(RequestEvent.id)).where(RequestEvent.request_id == request_id)) == events


def test_drafts_are_private_and_commands_need_a_department(cli, db, world, entry):
    entry_id, _items = entry
    system_id = _system_id(db, _register(cli)[0])
    draft = _create(cli, entry_id, system_id)
    assert cli("request", "show", draft, "--user", "civil_requester").exit_code == 0
    hidden = cli("request", "show", draft, "--user", "police_reviewer")
    assert hidden.exit_code == 2 and "不存在或无权查看" in hidden.output
    assert "共 0 条" in cli("request", "list", "--user", "police_reviewer").output
    # the node operator is no requester department; an unknown user is refused
    operator = cli("request", "create", entry_id, "--purpose", "核对户籍", "--scenario", "低保审核",
                   "--items", "gmsfhm", "--period-end", (date.today() + timedelta(days=30)).isoformat())
    assert operator.exit_code == 2 and "错误：申请必须以一个部门的名义提出" in operator.output
    nobody = cli("request", "list", "--user", "nobody")
    assert nobody.exit_code == 2 and "错误：用户不存在：nobody" in nobody.output
    # a submitted draft then shows to the provider; withdrawing it is kept in the history
    assert cli("request", "submit", draft, "--user", "civil_requester").exit_code == 0
    assert "共 1 条" in cli("request", "list", "--user", "police_reviewer").output
    withdrawn = cli("request", "withdraw", draft, "--reason", "重复申请", "--user", "civil_requester")
    assert withdrawn.exit_code == 0 and "已撤回" in withdrawn.output
    with db.session() as s:
        assert s.get(ShareRequest, draft).status == "withdrawn"


def test_r08_escalate_and_decide_a_dispute_from_the_command_line(cli, db, world, entry):
    entry_id, _items = entry
    system_id = _system_id(db, _register(cli)[0])
    request_id = _create(cli, entry_id, system_id, "--submit")
    assert cli("request", "reply", request_id, "--decision", "refuse", "--reason", "数据范围过大",
               "--user", "police_reviewer").exit_code == 0
    escalated = cli("request", "escalate", request_id, "--reason", "低保审核为法定职责", "--user", "civil_requester")
    assert escalated.exit_code == 0, escalated.output
    assert "双方协商" in escalated.output and "省公安厅" in escalated.output
    with db.session() as s:
        step = s.scalars(select(DisputeStep).where(DisputeStep.request_id == request_id)).one()
    todo = cli("request", "disputes", "--user", "police_reviewer")
    assert todo.exit_code == 0 and "低保审核为法定职责" in todo.output
    # only the handler decides
    requester = cli("request", "decide-dispute", step.id, "--decision", "approve", "--reason", "同意",
                    "--user", "civil_requester")
    assert requester.exit_code == 2 and "错误：当前角色无权办理争议协商" in requester.output
    with db.session() as s:
        assert s.get(DisputeStep, step.id).status == "open"
    decided = cli("request", "decide-dispute", step.id, "--decision", "approve", "--reason", "协商一致，同意共享",
                  "--user", "police_reviewer")
    assert decided.exit_code == 0 and "已决定" in decided.output, decided.output
    shown = cli("request", "show", request_id, "--user", "civil_requester").output
    assert "已同意" in shown and "争议处理" in shown and "协商一致，同意共享" in shown
    with db.session() as s:
        assert s.get(ShareRequest, request_id).status == "approved"
        assert s.scalars(select(Grant).where(Grant.request_id == request_id)).one().status == "active"


def test_r11_service_change_propose_list_decide(cli, db, world, entry):
    from govshare.sharing import changes
    from govshare.workdays.service import local_today

    entry_id, _items = entry
    with db.session() as s:
        effective = changes.earliest_effective_date(s, local_today(s))
    too_soon = cli("service-change", "propose", entry_id, "--kind", "stop", "--description", "系统下线",
                   "--effective-date", date.today().isoformat(), "--user", "police_manager")
    assert too_soon.exit_code == 2 and f"错误：生效日期不得早于 {effective}" in too_soon.output
    proposed = cli("service-change", "propose", entry_id, "--kind", "change", "--description", "接口迁移至新版网关",
                   "--effective-date", effective.isoformat(), "--user", "police_manager")
    assert proposed.exit_code == 0 and "待主管部门审批" in proposed.output, proposed.output
    listed = cli("service-change", "list", "--user", "reviewer")
    assert listed.exit_code == 0 and "接口迁移至新版网关" in listed.output
    with db.session() as s:
        change_id = s.scalars(select(ServiceChange.id)).one()
    provider = cli("service-change", "decide", change_id, "--approve", "--user", "police_manager")
    assert provider.exit_code == 2 and "错误：当前角色无权审批共享服务变更" in provider.output
    with db.session() as s:
        assert s.get(ServiceChange, change_id).status == "submitted"
    approved = cli("service-change", "decide", change_id, "--approve", "--reason", "同意", "--user", "reviewer")
    assert approved.exit_code == 0 and "已批准" in approved.output
    with db.session() as s:
        change = s.get(ServiceChange, change_id)
        assert (change.status, change.decision_reason) == ("approved", "同意")


def test_r07_a_reply_with_an_unknown_decision_names_the_field_and_its_choices_in_chinese(cli, db, world, entry):
    client_id, _secret = _register(cli)
    request_id = _create(cli, entry[0], _system_id(db, client_id), "--submit")
    result = cli("request", "reply", request_id, "--decision", "maybe", "--user", "police_reviewer")
    assert result.exit_code == 2
    text = "".join(result.output.split())
    assert "字段decision应为以下之一：" in text and "（字段：decision）" in text
    assert "Input should" not in result.output  # pydantic's English never reaches the user
    with db.session() as s:
        assert s.get(ShareRequest, request_id).status == "submitted"


def test_r07_cli_items_are_the_numbers_shown_on_the_entry_never_internal_ids(cli, db, world, entry):
    """`--items` takes the item's number on the entry page (1 = the first item) or its name; an internal
    database id is not a number shown anywhere, and a wrong reference is refused with the valid choices."""
    entry_id, items = entry
    beyond = len(items) + 1  # no item has this number
    refused = cli("request", "create", entry_id, "--purpose", "最低生活保障资格审核", "--scenario", "低保申请受理核对",
                  "--duty-basis", "《社会救助暂行办法》第十一条", "--items", f"2,{beyond}",
                  "--period-end", (date.today() + timedelta(days=30)).isoformat(), "--user", "civil_requester")
    assert refused.exit_code != 0
    assert f"信息项不属于该目录：{beyond}" in refused.output and "1 公民身份号码（gmsfhm）" in refused.output
    client_id, _secret = _register(cli)
    created = cli("request", "create", entry_id, "--purpose", "最低生活保障资格审核", "--scenario", "低保申请受理核对",
                  "--duty-basis", "《社会救助暂行办法》第十一条", "--items", "2", "--system", _system_id(db, client_id),
                  "--period-end", (date.today() + timedelta(days=30)).isoformat(), "--user", "civil_requester")
    assert created.exit_code == 0, created.output
    request_id = int(re.search(r"共享申请 (\d+)：", created.output).group(1))
    with db.session() as s:
        assert s.get(ShareRequest, request_id).item_ids == [items["xm"]]  # item 2 is 姓名
