"""Negative authorization cases for the write routes of issue 3 (one-stop sharing): requests and replies,
disputes, grants, service changes, consumer systems (R07–R11), demands (R20), the working-day calendar, and
webhooks. tests/test_authz_api.py runs each case: no token is 401, the auditor 403, every intruder 403 or
404 with nothing changed, then the rightful user succeeds with the very same request.

Intruders per route: the other side of the exchange (the requester replying, the provider withdrawing or
escalating), the same role in another department, another authority (the city below, another province),
a wrong role in the right department, and the platform administrator where the route is not theirs."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from govshare.catalog import service as catalog
from govshare.demands import service as demands
from govshare.demands.models import Demand
from govshare.notify import service as notify
from govshare.notify.models import OutboxMessage, Webhook
from govshare.orgs import service as orgs
from govshare.orgs.models import ConsumerSystem, Role
from govshare.sharing import changes, disputes
from govshare.sharing import service as sharing
from govshare.sharing.models import DisputeStep, Grant, RequestEvent, ServiceChange, ShareRequest
from govshare.sharing.schemas import ReplyIn
from govshare.sharing.vocab import ServiceChangeKind
from govshare.workdays import service as workdays
from govshare.workdays.models import CalendarDay
from tests.authz_case import Case
from tests.factories import PASSWORD, SYSTEM, consumer_system, published_entry, request_in, submitted_request

# ---------------------------------------------------------------- more users

# The world has one requester (省民政厅) and one department reviewer (省公安厅). These add the same roles
# elsewhere, so that "another department with the right role" is refused by department, not by role.
EXTRA_USERS = {
    "civil_reviewer": ("civil", Role.DEPT_REVIEWER),  # the requester department's reviewer
    "city_civil_requester": ("city_civil", Role.REQUESTER),  # a requester of another (city) department
    "police_requester": ("police", Role.REQUESTER),  # a requester of the provider department
}


def more_users(session, world) -> None:
    """Adds EXTRA_USERS to the world (users, login tokens, actors), once per test."""
    from govshare.authz import Actor

    for key, (department, role) in EXTRA_USERS.items():
        if key in world.tokens:
            continue
        user = orgs.create_user(session, SYSTEM, username=key, password=PASSWORD, role=role.value,
                                department_id=world.ids[department])
        world.ids[f"user:{key}"] = user.id
        world.tokens[key] = orgs.login(session, key, PASSWORD, session_hours=1)
        world.actors[key] = Actor.from_user(user)
    session.flush()


# ---------------------------------------------------------------- sharing scenes


def _new_request(session, world) -> dict:
    """A published 有条件 entry of 省公安厅 and a consumer system of 省民政厅: material for a request."""
    more_users(session, world)
    entry = published_entry(session, world)
    system, _secret = consumer_system(session, world)
    return {"entry_id": entry.id, "system_id": system.id}


def _request_body(params: dict) -> dict:
    return {"entry_id": params["entry_id"], "purpose": "最低生活保障资格审核", "scenario": "低保申请受理时核对户籍",
            "duty_basis": "《社会救助暂行办法》第十一条", "item_ids": params["item_ids"],
            "period_end": (date.today() + timedelta(days=300)).isoformat(),
            "consumer_system_id": params["system_id"]}


def _new_request_with_items(session, world) -> dict:
    params = _new_request(session, world)
    entry = catalog.get_entry(session, SYSTEM, params["entry_id"])
    return {**params, "item_ids": [item.id for item in entry.items][:2]}


def _draft(session, world) -> dict:
    more_users(session, world)
    entry = published_entry(session, world)
    system, _secret = consumer_system(session, world)
    request = sharing.create_request(session, world.actors["civil_requester"],
                                     request_in(entry, consumer_system_id=system.id), submit=False)
    return {"request_id": request.id}


def _submitted(session, world) -> dict:
    more_users(session, world)
    return {"request_id": submitted_request(session, world).id}


def _approved(session, world) -> dict:
    params = _submitted(session, world)
    sharing.reply(session, world.actors["police_reviewer"], params["request_id"], ReplyIn(decision="approve"))
    session.flush()
    return {**params, "grant_id": sharing.grant_of(session, params["request_id"]).id}


def _ended_grant(session, world) -> dict:
    params = _approved(session, world)
    sharing.declare_purpose_achieved(session, world.actors["civil_requester"], params["grant_id"], "审核完毕")
    return params


def _suspended_grant(session, world) -> dict:
    """Approved, then suspended after repeated out-of-grant attempts (R09): the provider reviews it."""
    params = _approved(session, world)
    grant = session.get(Grant, params["grant_id"])
    sharing.suspend_grant(session, grant, "多次请求未授权的信息项")
    session.flush()
    return params


def _refused(session, world) -> dict:
    params = _submitted(session, world)
    sharing.reply(session, world.actors["police_reviewer"], params["request_id"],
                  ReplyIn(decision="refuse", reason="申请的用途与履职依据不符"))
    return params


def _negotiation_step(session, world) -> dict:
    """Refused, then escalated: the negotiation step is 省公安厅's to decide."""
    params = _refused(session, world)
    step = disputes.escalate(session, world.actors["civil_requester"], params["request_id"], "低保审核确需户籍信息")
    return {**params, "step_id": step.id}


def _authority_step(session, world) -> dict:
    """Negotiation refused again, escalated once more: the step is 省数据局's, the same-level authority over
    省公安厅 (合肥市数据资源局's area does not cover a provincial department; 江西省数据局 is another province)."""
    params = _negotiation_step(session, world)
    disputes.decide(session, world.actors["police_reviewer"], params["step_id"],
                    ReplyIn(decision="refuse", reason="协商未能达成一致"))
    step = disputes.escalate(session, world.actors["civil_requester"], params["request_id"], "请求主管部门协调")
    assert step.handler_id == world.ids["authority"]
    return {**params, "step_id": step.id}


def _published(session, world) -> dict:
    more_users(session, world)
    entry = published_entry(session, world)
    effective = changes.earliest_effective_date(session, workdays.local_today(session)) + timedelta(days=7)
    return {"entry_id": entry.id, "effective_date": effective.isoformat()}


def _proposed_change(session, world) -> dict:
    params = _approved(session, world)  # a grant that the change affects
    entry_id = session.get(ShareRequest, params["request_id"]).entry_id
    effective = changes.earliest_effective_date(session, workdays.local_today(session)) + timedelta(days=7)
    change = changes.propose(session, world.actors["police_manager"], entry_id, ServiceChangeKind.STOP,
                             "系统迁移，停止接口服务", effective)
    return {**params, "change_id": change.id}


def _system(session, world) -> dict:
    more_users(session, world)
    system, _secret = consumer_system(session, world)
    return {"system_id": system.id}


def _sharing_state(session, _params) -> dict:
    """Everything of sharing a write could change: requests, their history, grants, dispute steps, changes."""
    requests = [(r.id, r.status, r.decision, r.decision_reason, r.reply_due, r.submitted_at)
                for r in session.scalars(select(ShareRequest).order_by(ShareRequest.id))]
    grants = [(g.id, g.status, g.end_reason, g.ended_at, g.deletion_confirmed_at, list(g.item_ids), g.period_end,
               g.rate_limit) for g in session.scalars(select(Grant).order_by(Grant.id))]
    steps = [(s.id, s.level, s.status, s.decision, s.decided_by_id)
             for s in session.scalars(select(DisputeStep).order_by(DisputeStep.id))]
    service_changes = [(c.id, c.status, c.decided_by_id, c.decision_reason, list(c.notified_grant_ids))
                       for c in session.scalars(select(ServiceChange).order_by(ServiceChange.id))]
    events = session.scalar(select(func.count()).select_from(RequestEvent))
    return {"requests": requests, "events": events, "grants": grants, "steps": steps, "changes": service_changes}


def _system_state(session, _params) -> list:
    return [(s.id, s.department_id, s.name, s.secret_hash, s.secret_rotated_at, s.revoked_at)
            for s in session.scalars(select(ConsumerSystem).order_by(ConsumerSystem.id))]


# ---------------------------------------------------------------- demand scenes


def _open_demand(session, world) -> dict:
    """Posted before anything is published: nothing matches, so it stays open for the requester to route."""
    more_users(session, world)
    demand = demands.post_demand(session, world.actors["civil_requester"], "需要核验低保申请人的户籍信息")
    assert demand.status == "open"
    published_entry(session, world)
    return {"demand_id": demand.id, "provider_id": world.ids["police"]}


def _routed_demand(session, world) -> dict:
    """Routed by the requester to 省公安厅, which has a published entry meeting it."""
    more_users(session, world)
    entry = published_entry(session, world)
    demand = demands.post_demand(session, world.actors["civil_requester"], "需要核验低保申请人的户籍信息",
                                 provider_id=world.ids["police"])
    assert demand.status == "routed"
    return {"demand_id": demand.id, "entry_id": entry.id, "provider_id": world.ids["police"]}


def _demand_state(session, _params) -> list:
    return [(d.id, d.status, d.provider_id, d.entry_id, d.accepted, d.planned_date, d.answer, d.answered_by_id)
            for d in session.scalars(select(Demand).order_by(Demand.id))]


# ---------------------------------------------------------------- calendar scenes

CALENDAR_DAY = "2031-10-08"


def _calendar_day(session, _world) -> dict:
    workdays.set_day(session, SYSTEM, date.fromisoformat(CALENDAR_DAY), False, "国庆节", "管理员录入")
    return {"day": CALENDAR_DAY}


def _no_calendar_day(_session, _world) -> dict:
    return {"day": CALENDAR_DAY}


def _calendar_state(session, _params) -> list:
    return [(d.day, d.is_workday, d.name, d.source, d.created_by_id)
            for d in session.scalars(select(CalendarDay).order_by(CalendarDay.day))]


CALENDAR_CSV = "日期,类型,名称\n2031-10-01,放假,国庆节\n2031-10-02,放假,国庆节\n2031-10-11,上班,国庆节调休\n"


# ---------------------------------------------------------------- webhook scenes


def _webhook(session, world) -> dict:
    """A webhook of 省民政厅 made by its requester, with one dead delivery to retry."""
    more_users(session, world)
    hook, _secret = notify.create_webhook(session, world.actors["civil_requester"], department_id=world.ids["civil"],
                                          url="https://hooks.civil.example.cn/govshare", events=[])
    message = OutboxMessage(webhook_id=hook.id, event="request.decided", payload={"event": "request.decided"},
                            status="dead", attempts=8, last_error="HTTP 500")
    session.add(message)
    session.flush()
    return {"webhook_id": hook.id, "message_id": message.id, "department_id": world.ids["civil"]}


def _inactive_webhook(session, world) -> dict:
    params = _webhook(session, world)
    notify.set_webhook_active(session, SYSTEM, params["webhook_id"], active=False)
    return params


def _users_only(session, world) -> dict:
    more_users(session, world)
    return {"department_id": world.ids["civil"]}


def _webhook_state(session, _params) -> dict:
    hooks = [(h.id, h.department_id, h.url, h.secret, list(h.events or []), h.is_active)
             for h in session.scalars(select(Webhook).order_by(Webhook.id))]
    outbox = [(m.id, m.status, m.attempts, m.next_attempt_at)
              for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
    return {"webhooks": hooks, "outbox": outbox}


# ---------------------------------------------------------------- who is refused

# Requester-side routes (submit, withdraw, renew, escalate, purpose achieved, confirm deletion, systems):
# the provider's reviewer and manager, a requester of another department, the requester department's other
# roles, the authorities, the administrator.
REQUESTER_SIDE_REFUSED = ("police_reviewer", "police_manager", "city_civil_requester", "civil_manager",
                          "civil_reviewer", "reviewer", "city_reviewer", "other_reviewer", "admin")
# Provider-side routes (reply, revoke): the requester, the requester department's reviewer, the provider's
# catalog manager (wrong role), other departments, authorities that do not cover the provider, the administrator.
PROVIDER_SIDE_REFUSED = ("civil_requester", "civil_reviewer", "police_manager", "police_requester",
                         "city_civil_manager", "city_reviewer", "other_reviewer", "admin")
SYSTEMS_REFUSED = ("police_reviewer", "police_requester", "police_manager", "city_civil_requester", "civil_manager",
                   "reviewer", "other_reviewer", "admin")
# A department's webhooks: its own requesters, reviewers and catalog managers, or the platform administrator.
WEBHOOKS_REFUSED = ("police_manager", "police_reviewer", "police_requester", "city_civil_requester",
                    "city_civil_manager", "reviewer", "city_reviewer", "other_reviewer")
CALENDAR_REFUSED = ("reviewer", "city_reviewer", "other_reviewer", "police_manager", "police_reviewer",
                    "civil_requester")

ISSUE3_CASES = [
    # ------------------------------------------------ requests (R07)
    Case("POST", "/api/v1/sharing/requests", _new_request_with_items, _request_body,
         ("civil_manager", "civil_reviewer", "police_manager", "police_reviewer", "city_civil_manager", "reviewer",
          "other_reviewer", "admin"), "civil_requester", _sharing_state, owner_status=201),
    Case("POST", "/api/v1/sharing/requests/{request_id}/submit", _draft, lambda _p: None,
         REQUESTER_SIDE_REFUSED, "civil_requester", _sharing_state),
    Case("POST", "/api/v1/sharing/requests/{request_id}/withdraw", _submitted, lambda _p: {"reason": "越权撤回"},
         REQUESTER_SIDE_REFUSED, "civil_requester", _sharing_state),
    # the reply is the provider reviewer's: not the requester's, not the authority's, not the catalog manager's
    Case("POST", "/api/v1/sharing/requests/{request_id}/reply", _submitted, lambda _p: {"decision": "approve"},
         (*PROVIDER_SIDE_REFUSED, "reviewer"), "police_reviewer", _sharing_state),
    Case("POST", "/api/v1/sharing/requests/{request_id}/renew", _approved,
         lambda _p: {"period_end": (date.today() + timedelta(days=400)).isoformat()},
         (*REQUESTER_SIDE_REFUSED, "police_requester"), "civil_requester", _sharing_state, owner_status=201),
    Case("POST", "/api/v1/sharing/requests/{request_id}/escalate", _refused, lambda _p: {"reason": "越权提起争议"},
         REQUESTER_SIDE_REFUSED, "civil_requester", _sharing_state, owner_status=201),
    # ------------------------------------------------ disputes (R08): the step's handler only
    Case("POST", "/api/v1/sharing/disputes/{step_id}/decide", _authority_step,
         lambda _p: {"decision": "approve", "reason": "履职依据充分，应予共享"},
         ("police_reviewer", "police_manager", "civil_requester", "civil_reviewer", "city_reviewer", "other_reviewer",
          "city_civil_manager", "admin"), "reviewer", _sharing_state),
    # ------------------------------------------------ grants (R10)
    # the provider's reviewer, or the competent authority over the provider, revokes
    Case("POST", "/api/v1/sharing/grants/{grant_id}/revoke", _approved, lambda _p: {"reason": "超范围使用数据"},
         PROVIDER_SIDE_REFUSED, "police_reviewer", _sharing_state),
    # the provider's reviewer alone reinstates a suspended grant (not even the authority)
    Case("POST", "/api/v1/sharing/grants/{grant_id}/reinstate", _suspended_grant,
         lambda _p: {"reason": "已核实为系统配置错误"}, (*PROVIDER_SIDE_REFUSED, "reviewer"), "police_reviewer",
         _sharing_state),
    Case("POST", "/api/v1/sharing/grants/{grant_id}/purpose-achieved", _approved,
         lambda _p: {"reason": "越权终止"}, REQUESTER_SIDE_REFUSED, "civil_requester", _sharing_state),
    Case("POST", "/api/v1/sharing/grants/{grant_id}/confirm-deletion", _ended_grant,
         lambda _p: {"reason": "已删除"}, REQUESTER_SIDE_REFUSED, "civil_requester", _sharing_state),
    # ------------------------------------------------ service changes (R11)
    Case("POST", "/api/v1/sharing/service-changes", _published,
         lambda p: {"entry_id": p["entry_id"], "kind": "stop", "description": "越权停止共享服务",
                    "effective_date": p["effective_date"]},
         ("civil_manager", "city_civil_manager", "civil_reviewer", "civil_requester", "police_requester", "reviewer",
          "other_reviewer", "admin"), "police_manager", _sharing_state, owner_status=201),
    Case("POST", "/api/v1/sharing/service-changes/{change_id}/decide", _proposed_change,
         lambda _p: {"approve": True, "reason": "同意"},
         ("police_manager", "police_reviewer", "civil_requester", "civil_reviewer", "city_reviewer", "other_reviewer",
          "admin"), "reviewer", _sharing_state),
    # ------------------------------------------------ consumer systems (R09): the own department's only
    Case("POST", "/api/v1/sharing/systems", _system, lambda _p: {"name": "越权登记的系统"},
         ("civil_manager", "police_manager", "city_civil_manager", "reviewer", "other_reviewer", "admin"),
         "civil_requester", _system_state, owner_status=201),
    # the department's requesters and reviewers manage its systems (civil_reviewer may: not an intruder)
    Case("POST", "/api/v1/sharing/systems/{system_id}/rotate", _system, lambda _p: None,
         SYSTEMS_REFUSED, "civil_requester", _system_state),
    Case("POST", "/api/v1/sharing/systems/{system_id}/revoke", _system, lambda _p: None,
         SYSTEMS_REFUSED, "civil_requester", _system_state),
    # ------------------------------------------------ demands (R20)
    Case("POST", "/api/v1/demands", _users_only, lambda _p: {"title": "需要核验低保申请人的户籍信息"},
         ("police_reviewer", "civil_reviewer", "reviewer", "other_reviewer", "admin"), "civil_requester",
         _demand_state, owner_status=201),
    Case("POST", "/api/v1/demands/{demand_id}/accept-suggestion", _routed_demand,
         lambda p: {"entry_id": p["entry_id"]},
         ("police_manager", "police_reviewer", "city_civil_manager", "city_civil_requester", "civil_reviewer",
          "reviewer", "other_reviewer", "admin"), "civil_requester", _demand_state),
    Case("POST", "/api/v1/demands/{demand_id}/route", _open_demand, lambda p: {"provider_id": p["provider_id"]},
         ("police_manager", "police_reviewer", "city_civil_manager", "city_civil_requester", "civil_reviewer",
          "reviewer", "other_reviewer", "admin"), "civil_requester", _demand_state),
    Case("POST", "/api/v1/demands/{demand_id}/withdraw", _routed_demand, lambda _p: {"reason": "不再需要"},
         ("police_manager", "police_reviewer", "city_civil_manager", "city_civil_requester", "civil_reviewer",
          "reviewer", "other_reviewer", "admin"), "civil_requester", _demand_state),
    # the routed provider answers: not the requester department, not another department, not the authority
    Case("POST", "/api/v1/demands/{demand_id}/answer", _routed_demand,
         lambda _p: {"accept": False, "reason": "该数据不在本部门职责范围内"},
         ("civil_requester", "civil_manager", "civil_reviewer", "city_civil_manager", "police_requester", "reviewer",
          "other_reviewer", "admin"), "police_manager", _demand_state),
    Case("POST", "/api/v1/demands/{demand_id}/link", _routed_demand, lambda p: {"entry_id": p["entry_id"]},
         ("police_reviewer", "police_requester", "civil_requester", "civil_manager", "city_civil_manager", "reviewer",
          "other_reviewer", "admin"), "police_manager", _demand_state),
    # ------------------------------------------------ working-day calendar: the platform administrator only
    Case("PUT", "/api/v1/calendar/days/{day}", _no_calendar_day,
         lambda _p: {"is_workday": False, "name": "国庆节", "source": "越权修改"},
         CALENDAR_REFUSED, "admin", _calendar_state),
    Case("DELETE", "/api/v1/calendar/days/{day}", _calendar_day, lambda _p: None,
         CALENDAR_REFUSED, "admin", _calendar_state, owner_status=204),
    Case("POST", "/api/v1/calendar/import", _no_calendar_day, lambda _p: {"text": CALENDAR_CSV, "format": "csv"},
         CALENDAR_REFUSED, "admin", _calendar_state),
    # ------------------------------------------------ webhooks
    Case("POST", "/api/v1/webhooks", _users_only,
         lambda p: {"url": "https://intruder.example.cn/hook", "department_id": p["department_id"], "events": []},
         WEBHOOKS_REFUSED, "civil_requester", _webhook_state, owner_status=201),
    Case("POST", "/api/v1/webhooks/{webhook_id}/deactivate", _webhook, lambda _p: None,
         WEBHOOKS_REFUSED, "civil_requester", _webhook_state),
    Case("POST", "/api/v1/webhooks/{webhook_id}/activate", _inactive_webhook, lambda _p: None,
         WEBHOOKS_REFUSED, "civil_requester", _webhook_state),
    Case("POST", "/api/v1/webhooks/{webhook_id}/rotate-secret", _webhook, lambda _p: None,
         WEBHOOKS_REFUSED, "civil_requester", _webhook_state),
    Case("DELETE", "/api/v1/webhooks/{webhook_id}", _webhook, lambda _p: None,
         WEBHOOKS_REFUSED, "civil_requester", _webhook_state, owner_status=204),
    Case("POST", "/api/v1/webhooks/deliveries/{message_id}/retry", _webhook, lambda _p: None,
         WEBHOOKS_REFUSED, "civil_requester", _webhook_state),
]

# Marking one's own notifications read: anybody with a login, the auditor too; another user's notification
# is not found (404) and stays unread (test_r18_user_cannot_mark_another_users_notification_read).
ISSUE3_SELF_SERVICE_WRITE_ROUTES = {
    ("POST", "/api/v1/notifications/{notification_id}/read"),
    ("POST", "/api/v1/notifications/read-all"),
}
