"""Seeds one-stop sharing in the demo (SCENARIOS.md 1, 2, 3, 4, 8): consumer systems of the requester
departments, requests in every state with their replies, grants and dispute steps, a service change awaiting
the competent authority, and demands at three stages.

Everything goes through the services with the actor who would do it (the requester department's requester,
the provider's reviewer, the competent authority). The demo cannot wait for time to pass, so a request
meant to be older is created today and then moved back in time as a whole (`backdate`: its history, its
deadlines recomputed in working days, its grant, its dispute steps and its notifications); the scheduled jobs
then run with today's date, so an overdue request and an expired grant are marked by the same code as in
production. Seeding is deterministic: the same catalog and the same day give the same records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govshare.authz import Actor
from govshare.catalog.models import CatalogEntry
from govshare.catalog.vocab import EntryStatus
from govshare.config import settings_of
from govshare.demands import service as demands
from govshare.demands.models import Demand
from govshare.notify.models import Notification
from govshare.orgs import systems
from govshare.orgs.models import ConsumerSystem, Department
from govshare.sharing import changes, disputes, service
from govshare.sharing.jobs import JOBS
from govshare.sharing.models import DisputeStep, Grant, RequestEvent, ServiceChange, ShareRequest
from govshare.sharing.schemas import ReplyIn, RequestIn, RowScope
from govshare.sharing.vocab import DisputeLevel, DisputeStatus, RequestStatus, ServiceChangeKind
from govshare.workdays import service as workdays

# Consumer systems of the requester departments: (department key, name, description).
SYSTEMS = [
    ("hf_civil", "低保审核系统", "合肥市最低生活保障审核确认系统，按申请人身份核对户籍、社保、不动产、车辆等信息"),
    ("ss_edu", "蜀山区义务教育入学资格审核系统", "核验适龄儿童户籍和房产，确定施教区入学资格"),
    ("hf_hpf", "住房公积金贷款审核系统", "个人住房公积金贷款申请审核，核验婚姻状况"),
    ("hf_medical", "医疗救助一站式结算系统", "医疗救助对象身份认定和待遇结算"),
    ("tax", "企业开办一网通办系统", "企业开办一网通办：税务登记、发票申领同日办结"),
]

LOW_INCOME_DUTY = ("《社会救助暂行办法》（国务院令第649号）第十一条：对申请人的家庭收入状况、财产状况进行调查核实；"
                   "《最低生活保障审核确认办法》（民发〔2021〕57号）第二十条：通过信息核对查询家庭经济状况")
LOW_INCOME_PURPOSE = "最低生活保障资格审核"
LOW_INCOME_SCENARIO = "市民政局受理低保申请后，由低保审核系统按申请人及家庭成员身份号码核对，不再要求群众提交证明材料"
ENROLMENT_DUTY = ("《中华人民共和国义务教育法》第十二条：适龄儿童、少年免试入学，"
                  "地方人民政府应当保障其在户籍所在地就近入学")
ENROLMENT_PURPOSE = "义务教育阶段新生入学资格审核"
MEDICAL_DUTY = ("《社会救助暂行办法》第二十八条：最低生活保障家庭成员、特困供养人员等可以申请医疗救助；"
                "《医疗保障基金使用监督管理条例》第十五条")

# Demands of 合肥市医疗保障局 (scenario 8), each routed to 省民政厅: (title, description, stage).
DEMANDS = [
    ("需要核验申请人是否为低保对象",
     "医疗救助一站式结算时核验就诊人是否为最低生活保障对象，只需返回是/否", "fulfilled"),
    ("需要获取支出型困难家庭认定信息",
     "因病支出型困难家庭纳入医疗救助，需要民政部门认定的家庭名单和认定日期", "accepted"),
    ("需要核验申请人是否属于低保边缘家庭",
     "低保边缘家庭成员参加居民医保享受个人缴费补助，需要核验身份", "routed"),
]


@dataclass
class Context:
    session: Session
    departments: dict[str, Department]
    actors: dict[str, Actor]
    today: date
    systems: dict[str, int]

    def actor(self, username: str) -> Actor:
        return self.actors[username]

    def entry(self, department: str, name: str) -> CatalogEntry:
        return self.session.scalars(select(CatalogEntry).where(
            CatalogEntry.provider_id == self.departments[department].id, CatalogEntry.name == name,
            CatalogEntry.status == EntryStatus.PUBLISHED)).one()


def total_steps() -> int:
    """The number of progress steps `seed_sharing` reports."""
    return len(STEPS) + 4


def seed_sharing(session: Session, departments: dict[str, Department], actors: dict[str, Actor],
                 step: Callable[[str], None] | None = None) -> None:
    """Seeds sharing into a demo whose departments, users and catalog exist (`departments` and `actors` are
    keyed like demo.data: department keys and usernames)."""
    report = step or (lambda _description: None)
    ctx = Context(session, departments, actors, workdays.local_today(session), {})
    report("应用系统")
    for department, name, description in SYSTEMS:
        system, _secret = systems.register_system(session, ctx.actor(f"{department}_requester"), name, description)
        ctx.systems[department] = system.id  # the secret is never shown: rotate it to get one (govshare system rotate)
    for label, build in STEPS:
        report(f"共享申请：{label}")
        build(ctx)
    report("定时任务（提醒、逾期、授权到期）")
    for job in JOBS.values():
        job(session, ctx.today)
    report("共享服务变更")
    _service_change(ctx)
    report("需求清单")
    _demands(ctx)
    session.flush()


# ---------------------------------------------------------------- helpers


def _items(entry: CatalogEntry, *names: str) -> list[int]:
    by_name = {item.name: item.id for item in entry.items}
    return [by_name[name] for name in names]


def _ask(ctx: Context, requester: str, provider: str, entry_name: str, items: tuple[str, ...], *, purpose: str,
         scenario: str, duty_basis: str = "", scope: tuple[str, list[str]] | None = None, days: int = 364,
         verify_only: bool = False, submit: bool = True, system: bool = True) -> ShareRequest:
    entry = ctx.entry(provider, entry_name)
    data = RequestIn(
        entry_id=entry.id, purpose=purpose, scenario=scenario, duty_basis=duty_basis, item_ids=_items(entry, *items),
        row_scope=RowScope(item=scope[0], prefixes=scope[1]) if scope else None, verify_only=verify_only,
        period_end=ctx.today + timedelta(days=days), consumer_system_id=ctx.systems[requester] if system else None,
    )
    return service.create_request(ctx.session, ctx.actor(f"{requester}_requester"), data, submit=submit)


def _reply(ctx: Context, request: ShareRequest, decision: str, reason: str = "", **terms) -> ShareRequest:
    reviewer = ctx.actors[f"{_key(ctx, request.provider_id)}_reviewer"]
    return service.reply(ctx.session, reviewer, request.id, ReplyIn(decision=decision, reason=reason, **terms))


def _key(ctx: Context, department_id: int) -> str:
    return next(key for key, d in ctx.departments.items() if d.id == department_id)


def backdate(session: Session, request: ShareRequest, days: int) -> None:
    """Moves a request made today `days` calendar days into the past as a whole: its times, its period, its
    history, its grant, its dispute steps and its notifications; deadlines are counted again in working days
    from the moved dates, as the services would have counted them then."""
    session.flush()
    delta = timedelta(days=days)
    for column in ("created_at", "submitted_at", "decided_at", "reminded_at", "overdue_at"):
        if getattr(request, column) is not None:
            setattr(request, column, getattr(request, column) - delta)
    request.period_start -= delta
    request.period_end -= delta
    if request.submitted_at is not None and request.reply_due is not None:
        due = workdays.deadline(session, workdays.local_date(session, request.submitted_at),
                                settings_of(session).reply_working_days)
        request.reply_due, request.reply_due_estimated = due.due, due.estimated
    for event in session.scalars(select(RequestEvent).where(RequestEvent.request_id == request.id)):
        event.created_at -= delta
    grant = service.grant_of(session, request.id)
    if grant is not None:
        grant.created_at -= delta
        grant.period_start -= delta
        grant.period_end -= delta
        if grant.ended_at is not None:
            grant.ended_at -= delta
    for step in session.scalars(select(DisputeStep).where(DisputeStep.request_id == request.id)):
        step.opened_at -= delta
        if step.decided_at is not None:
            step.decided_at -= delta
        days_allowed = disputes.working_days_for(session, DisputeLevel(step.level))
        due = workdays.deadline(session, workdays.local_date(session, step.opened_at), days_allowed)
        step.due, step.due_estimated = due.due, due.estimated
    # in Python, not as SQL `created_at - delta`: SQLite would store that difference as a number
    for note in session.scalars(select(Notification).where(Notification.link == f"/sharing/requests/{request.id}")):
        note.created_at -= delta
    session.flush()


def _days_back_for_due(session: Session, today: date, accept: Callable[[date], bool], start: int = 1) -> int:
    """The fewest calendar days back a request could have been submitted so that its reply deadline satisfies
    `accept` (deterministic for a given day and calendar)."""
    days = settings_of(session).reply_working_days
    for back in range(start, 120):
        if accept(workdays.deadline(session, today - timedelta(days=back), days).due):
            return back
    raise RuntimeError("no submission date gives the wanted reply deadline")  # pragma: no cover


# ---------------------------------------------------------------- the requests, one per story


def _approved_low_income(ctx: Context) -> None:
    """Scenario 1: 市民政局's 低保审核系统 reads 公安·人口基本信息 for the city's residents only."""
    request = _ask(ctx, "hf_civil", "police", "人口基本信息",
                   ("gmsfhm", "xm", "xb", "csrq", "hjdz", "hh", "yhzgx", "swbs"), purpose=LOW_INCOME_PURPOSE,
                   scenario=LOW_INCOME_SCENARIO, duty_basis=LOW_INCOME_DUTY, scope=("gmsfhm", ["3401"]))
    _reply(ctx, request, "approve", "符合社会救助法定职责，按最小必要原则提供，数据范围限合肥市户籍人口", rate_limit=20)
    backdate(ctx.session, request, 45)


def _verify_only_marriage(ctx: Context) -> None:
    """Scenario 2: 住房公积金管理中心 may only verify marriage status (一致/不一致/无记录)."""
    request = _ask(ctx, "hf_hpf", "civil", "婚姻登记信息", ("nfsfzh", "nvsfzh", "djlx"),
                   purpose="住房公积金个人住房贷款婚姻状况核验",
                   scenario="贷款申请人声明婚姻状况后，贷款审核系统按身份证号核验登记类型，只取一致/不一致/无记录结果",
                   duty_basis="《住房公积金管理条例》第二十六条：缴存职工申请住房公积金贷款，受委托银行应当予以审核",
                   verify_only=True)
    _reply(ctx, request, "approve", "仅以核验方式提供婚姻状况，不提供配偶姓名等原始数据", rate_limit=10)
    backdate(ctx.session, request, 30)


def _unconditional_enterprise(ctx: Context) -> None:
    """Scenario 3: 企业登记信息 is shared unconditionally: granted on submission, purpose still recorded."""
    request = _ask(ctx, "tax", "market", "企业登记信息", ("tyshxydm", "qymc", "fddbr", "zczb", "clrq", "djzt"),
                   purpose="企业开办一网通办：新办企业税务信息确认",
                   scenario="企业登记后当日推送至税务部门，新办纳税人免填登记信息，同日完成发票申领")
    backdate(ctx.session, request, 10)


def _partly_approved_insurance(ctx: Context) -> None:
    """Scenario 1: 人社厅 gives fewer items and a shorter period, with its reasons."""
    request = _ask(ctx, "hf_civil", "hrss", "社会保险缴费信息", ("sfzhm", "xm", "cbxz", "jfjs", "jfny", "cbdwmc"),
                   purpose=LOW_INCOME_PURPOSE, scenario="核对低保申请家庭成员的社会保险缴费基数，推算工资性收入",
                   duty_basis=LOW_INCOME_DUTY)
    entry = request.entry
    _reply(ctx, request, "approve_in_part",
           "参保单位名称与收入核对无关，按最小必要原则不予提供；缴费基数涉及个人收入，先批准六个月，期满评估后续期",
           item_ids=_items(entry, "sfzhm", "xm", "cbxz", "jfjs", "jfny"), period_end=ctx.today + timedelta(days=182))
    backdate(ctx.session, request, 20)


def _refused_out_of_district(ctx: Context) -> None:
    """Scenario 4: a district asks for the whole city's rows; refused, the reason recorded."""
    request = _ask(ctx, "ss_edu", "land", "不动产登记信息", ("qlrmc", "qlrzjhm", "zl", "djsj"),
                   purpose=ENROLMENT_PURPOSE, scenario="核验适龄儿童父母在施教区内是否有住房",
                   duty_basis=ENROLMENT_DUTY, scope=("qlrzjhm", ["3401"]))
    _reply(ctx, request, "refuse",
           "申请的数据范围为合肥市全市，超出蜀山区教育体育局的管辖区域；请限定为蜀山区（340104）后重新申请")
    backdate(ctx.session, request, 25)


def _overdue_property(ctx: Context) -> None:
    """Scenario 4 again, now in the district's own rows; the provider has not replied in time."""
    request = _ask(ctx, "ss_edu", "land", "不动产登记信息", ("qlrmc", "qlrzjhm", "zl", "djsj"),
                   purpose=ENROLMENT_PURPOSE,
                   scenario="核验适龄儿童父母在施教区内是否有住房（按蜀山区限定范围重新申请）",
                   duty_basis=ENROLMENT_DUTY, scope=("qlrzjhm", ["340104"]))
    back = _days_back_for_due(ctx.session, ctx.today, lambda due: due <= ctx.today - timedelta(days=3), start=14)
    backdate(ctx.session, request, back)


def _due_soon_population(ctx: Context) -> None:
    """Scenario 4: 区教育局 asks for the district's 户籍 rows; the reply is due within the reminder window."""
    request = _ask(ctx, "ss_edu", "police", "人口基本信息", ("gmsfhm", "xm", "csrq", "hjdz", "yhzgx"),
                   purpose=ENROLMENT_PURPOSE, scenario="按适龄儿童身份号码核验户籍是否在蜀山区、与户主关系",
                   duty_basis=ENROLMENT_DUTY, scope=("gmsfhm", ["340104"]))
    calendar = workdays.WorkCalendar(ctx.session)
    window = settings_of(ctx.session).reminder_working_days

    def soon(due: date) -> bool:
        return due > ctx.today and calendar.working_days_between(ctx.today, due) <= max(window, 1)

    backdate(ctx.session, request, _days_back_for_due(ctx.session, ctx.today, soon))


def _escalated_negotiation(ctx: Context) -> None:
    """R08: refused, then taken to negotiation with the provider (step open)."""
    request = _ask(ctx, "hf_civil", "tax", "个人所得税纳税记录", ("sfzjhm", "xm", "ssq", "sre"),
                   purpose=LOW_INCOME_PURPOSE, scenario="核对低保申请家庭成员的工资薪金收入",
                   duty_basis=LOW_INCOME_DUTY)
    _reply(ctx, request, "refuse",
           "个人收入属于纳税人涉税信息，依《中华人民共和国税收征收管理法》第八条负有保密义务，不以批量接口方式提供")
    backdate(ctx.session, request, 6)
    disputes.escalate(ctx.session, ctx.actor("hf_civil_requester"), request.id,
                      "家庭经济状况核对经申请人书面授权，属于《社会救助暂行办法》规定的法定核对事项，请求协商按授权逐人核验")


def _escalated_authority(ctx: Context) -> None:
    """R08: refused, negotiation failed, now before the same-level competent authority (合肥市数据资源局)."""
    request = _ask(ctx, "hf_medical", "hf_civil", "城乡低保对象信息", ("sfzjhm", "xm", "sprq"),
                   purpose="医疗救助对象身份认定",
                   scenario="医疗救助一站式结算时核验就诊人是否为低保对象，直接结算救助金额",
                   duty_basis=MEDICAL_DUTY)
    _reply(ctx, request, "refuse", "医保部门不是低保认定机关，低保对象名单仅限社会救助工作使用")
    negotiation = disputes.escalate(ctx.session, ctx.actor("hf_medical_requester"), request.id,
                                    "医疗救助对低保对象实行直接救助，核验身份属于医保部门法定职责")
    disputes.decide(ctx.session, ctx.actor("hf_civil_reviewer"), negotiation.id,
                    ReplyIn(decision="refuse", reason="协商后仍认为应由申请人提供低保证明，不同意接口核验"))
    backdate(ctx.session, request, 12)
    disputes.escalate(ctx.session, ctx.actor("hf_medical_requester"), request.id,
                      "协商未果，提请合肥市数据资源局协调：“一件事一次办”要求免于提交低保证明")


def _withdrawn_id_card(ctx: Context) -> None:
    request = _ask(ctx, "hf_civil", "police", "居民身份证签发信息", ("gmsfhm", "xm", "yxqjzrq"),
                   purpose=LOW_INCOME_PURPOSE, scenario="核验低保申请人身份证件是否在有效期内",
                   duty_basis=LOW_INCOME_DUTY, verify_only=True)
    service.withdraw_request(ctx.session, ctx.actor("hf_civil_requester"), request.id,
                             "人口基本信息已满足身份核验需要，撤回重复申请")
    backdate(ctx.session, request, 15)


def _expired_vehicle(ctx: Context) -> None:
    """Scenario 1: last year's grant of 机动车登记信息 ran out; a renewal awaits the provider's reply."""
    request = _ask(ctx, "hf_civil", "police", "机动车登记信息", ("syrzjhm", "syrxm", "cllx", "ccdjrq"),
                   purpose=LOW_INCOME_PURPOSE, scenario="核对低保申请家庭是否拥有机动车（财产状况核查）",
                   duty_basis=LOW_INCOME_DUTY)
    _reply(ctx, request, "approve", "符合社会救助法定职责，不提供号牌号码", rate_limit=20)
    backdate(ctx.session, request, 400)
    JOBS["grants_expired"](ctx.session, ctx.today)
    service.renew_request(ctx.session, ctx.actor("hf_civil_requester"), request.id,
                          period_end=ctx.today + timedelta(days=364))


def _revoked_social_card(ctx: Context) -> None:
    """R10: the provider revokes a grant used beyond its scenario; the requester confirms deletion."""
    request = _ask(ctx, "hf_medical", "hrss", "社会保障卡信息", ("sfzhm", "xm", "sbkh", "kzt"),
                   purpose="医保结算身份凭证核验", scenario="参保人持社会保障卡就医结算时核验卡状态",
                   duty_basis=MEDICAL_DUTY)
    _reply(ctx, request, "approve", "用于就医结算时核验卡状态", rate_limit=20)
    backdate(ctx.session, request, 90)
    grant = service.grant_of(ctx.session, request.id)
    service.revoke_grant(ctx.session, ctx.actor("hrss_reviewer"), grant.id,
                         "监测发现该系统在非就医时段批量查询社会保障卡号，超出申请的使用场景")
    service.confirm_deletion(ctx.session, ctx.actor("hf_medical_requester"), grant.id,
                             "已删除医疗救助一站式结算系统中缓存的社会保障卡信息，并停止批量查询")


def _drafts(ctx: Context) -> None:
    """Two departments' drafts (only their own department sees them)."""
    _ask(ctx, "hf_civil", "land", "不动产登记信息", ("qlrzjhm", "bdcdyh", "jzmj"), purpose=LOW_INCOME_PURPOSE,
         scenario="核验低保申请家庭是否拥有登记的不动产，只需返回是/否和面积", duty_basis=LOW_INCOME_DUTY,
         scope=("qlrzjhm", ["3401"]), verify_only=True, submit=False)
    _ask(ctx, "hf_medical", "police", "户籍注销（死亡）信息", ("gmsfhm", "xm", "swrq"),
         purpose="医保待遇资格认证", scenario="参保人死亡后及时停发医保待遇、注销个人账户", duty_basis=MEDICAL_DUTY,
         submit=False)


STEPS: list[tuple[str, Callable[[Context], None]]] = [
    ("低保审核（已同意）", _approved_low_income),
    ("婚姻状况核验（仅核验）", _verify_only_marriage),
    ("企业开办（无条件共享）", _unconditional_enterprise),
    ("社保缴费（部分同意）", _partly_approved_insurance),
    ("入学不动产（不予同意）", _refused_out_of_district),
    ("入学不动产（逾期未答复）", _overdue_property),
    ("入学户籍（即将到期）", _due_soon_population),
    ("个税记录（争议协商）", _escalated_negotiation),
    ("低保名单（主管部门协调）", _escalated_authority),
    ("身份证签发（已撤回）", _withdrawn_id_card),
    ("机动车登记（已到期，续期待答复）", _expired_vehicle),
    ("社会保障卡（已撤销）", _revoked_social_card),
    ("草稿", _drafts),
]


# ---------------------------------------------------------------- service change and demands


def _service_change(ctx: Context) -> ServiceChange:
    """R11: 省公安厅 moves 人口基本信息 to a new interface; awaits 省数据局's approval."""
    entry = ctx.entry("police", "人口基本信息")
    effective = changes.earliest_effective_date(ctx.session, ctx.today) + timedelta(days=14)
    return changes.propose(ctx.session, ctx.actor("police_manager"), entry.id, ServiceChangeKind.CHANGE,
                           "人口基本信息接口迁移至省一体化数据共享平台新版网关，新增死亡标识核验，旧接口地址停止服务",
                           effective)


def _demands(ctx: Context) -> None:
    """Scenario 8: 医保局's demands routed to 省民政厅: fulfilled, accepted with a date, awaiting an answer."""
    requester, provider = ctx.actor("hf_medical_requester"), ctx.actor("civil_manager")
    civil = ctx.departments["civil"].id
    for title, description, stage in DEMANDS:
        demand = demands.post_demand(ctx.session, requester, title, description, provider_id=civil)
        if stage == "routed":
            continue
        limit = workdays.deadline(ctx.session, ctx.today, settings_of(ctx.session).demand_working_days).due
        planned = workdays.deadline(ctx.session, ctx.today, 10).due
        demands.answer_demand(ctx.session, provider, demand.id, True, min(planned, limit),
                              "将编制目录并经主管部门审核发布后共享")
        if stage == "fulfilled":
            demands.link_entry(ctx.session, provider, demand.id, ctx.entry("civil", "低保对象信息").id)


# ---------------------------------------------------------------- counts


def describe(session: Session) -> dict:
    """What sharing the database holds: requests by status, grants, systems, open dispute steps, service
    changes awaiting approval, demands by status."""
    def by_status(column) -> dict[str, int]:
        rows = session.execute(select(column, func.count()).group_by(column)).all()
        return {status: count for status, count in sorted(rows)}

    return {
        "systems": session.scalar(select(func.count(ConsumerSystem.id))) or 0,
        "requests": by_status(ShareRequest.status),
        "grants": by_status(Grant.status),
        "open_disputes": session.scalar(select(func.count(DisputeStep.id)).where(
            DisputeStep.status == DisputeStatus.OPEN)) or 0,
        "overdue_requests": session.scalar(select(func.count(ShareRequest.id)).where(
            ShareRequest.status == RequestStatus.SUBMITTED, ShareRequest.overdue_at.is_not(None))) or 0,
        "service_changes": by_status(ServiceChange.status),
        "demands": by_status(Demand.status),
    }


def summary(counts: dict) -> str:
    """One line for the demo command."""
    if not counts.get("requests"):
        return ""
    by_status = counts["requests"]
    states = "，".join(f"{s.label} {by_status[s.value]}" for s in RequestStatus if s.value in by_status)
    return (f"共享申请 {sum(counts['requests'].values())} 件（{states}），"
            f"共享授权 {sum(counts['grants'].values())} 项，"
            f"应用系统 {counts['systems']} 个，待办争议 {counts['open_disputes']} 件，"
            f"共享服务变更 {sum(counts['service_changes'].values())} 件，数据需求 {sum(counts['demands'].values())} 项")
