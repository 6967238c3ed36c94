"""Builders for test data: departments with valid USCCs and real region codes, users with tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session
from stdnum.cn import uscc

from govshare.authz import Actor
from govshare.catalog import service as catalog
from govshare.catalog.schemas import EntryIn, ItemIn
from govshare.orgs import service as orgs
from govshare.orgs.models import Role

SYSTEM = Actor.system()
PASSWORD = "correct-horse-9"


def make_uscc(serial: int) -> str:
    """A valid 统一社会信用代码 for a government organ (registration 11), check character computed."""
    body = f"11340000{serial:09d}"
    return body + uscc.calc_check_digit(body)


@dataclass
class World:
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    actors: dict[str, Actor] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


DEPARTMENTS = [
    # key, name, level, region, competent authority
    ("authority", "省数据局", "provincial", "340000", True),
    ("police", "省公安厅", "provincial", "340000", False),
    ("civil", "省民政厅", "provincial", "340000", False),
    ("city_authority", "合肥市数据资源局", "municipal", "340100", True),
    ("city_civil", "合肥市民政局", "municipal", "340100", False),
    ("other_authority", "江西省数据局", "provincial", "360000", True),
]

USERS = [
    # key, department key, role
    ("admin", "authority", Role.PLATFORM_ADMIN),
    ("reviewer", "authority", Role.AUTHORITY_REVIEWER),
    ("city_reviewer", "city_authority", Role.AUTHORITY_REVIEWER),
    ("other_reviewer", "other_authority", Role.AUTHORITY_REVIEWER),
    ("police_manager", "police", Role.CATALOG_MANAGER),
    ("police_reviewer", "police", Role.DEPT_REVIEWER),
    ("civil_manager", "civil", Role.CATALOG_MANAGER),
    ("civil_requester", "civil", Role.REQUESTER),
    ("city_civil_manager", "city_civil", Role.CATALOG_MANAGER),
    ("auditor", "authority", Role.AUDITOR),
]


def build_world(session: Session) -> World:
    world = World()
    for serial, (key, name, level, region, authority) in enumerate(DEPARTMENTS, start=1):
        department = orgs.create_department(
            session, SYSTEM, name=name, level=level, region_code=region, uscc_code=make_uscc(serial),
            is_competent_authority=authority,
        )
        world.ids[key] = department.id
    for key, department_key, role in USERS:
        user = orgs.create_user(session, SYSTEM, username=key, password=PASSWORD, role=role.value,
                                department_id=world.ids[department_key])
        world.ids[f"user:{key}"] = user.id
        world.tokens[key] = orgs.login(session, key, PASSWORD, session_hours=1)
        world.actors[key] = Actor.from_user(user)
    session.flush()
    return world


def population_entry(**overrides) -> EntryIn:
    """公安 · 人口基本信息 from SCENARIOS §1."""
    data = dict(
        classification_code="101",
        name="人口基本信息",
        abstract="全省户籍人口的基本信息，包括公民身份号码、姓名、性别、出生日期和户籍地址",
        data_format="数据库",
        share_type="有条件共享",
        share_condition="仅限社会救助、低保审核等法定职责使用，按行政区划限定范围",
        share_method="接口",
        open_attribute="不予开放",
        update_cycle="每日",
        grade="一般4",
        theme="公共安全",
        source_system="人口信息管理系统",
        items=[
            ItemIn(name="gmsfhm", chinese_name="公民身份号码", data_type="string", length=18, grade="一般4",
                   personal_info="pi"),
            ItemIn(name="xm", chinese_name="姓名", data_type="string", length=50, grade="一般3", personal_info="pi"),
            ItemIn(name="csrq", chinese_name="出生日期", data_type="date", grade="一般3", personal_info="pi"),
            ItemIn(name="hjdz", chinese_name="户籍地址", data_type="string", length=200, grade="一般4",
                   personal_info="pi"),
        ],
    )
    data.update(overrides)
    return EntryIn.model_validate(data)


def published_entry(session: Session, world: World, manager: str = "police_manager", **overrides):
    """An entry created by `manager`, submitted, and published by the provincial authority."""
    entry = catalog.create_entry(session, world.actors[manager], population_entry(**overrides))
    catalog.submit_entry(session, world.actors[manager], entry.id)
    catalog.publish_entry(session, world.actors["reviewer"], entry.id)
    session.flush()
    return entry


def request_in(entry, *, days: int = 365, items: int | None = None, **overrides):
    """A request for `entry` with purpose, scenario, duty basis and the first `items` items (all by default)."""
    from datetime import date, timedelta

    from govshare.sharing.schemas import RequestIn

    data = dict(
        entry_id=entry.id, purpose="最低生活保障资格审核", scenario="低保申请受理时核对申请人户籍信息",
        duty_basis="《社会救助暂行办法》第十一条", item_ids=[i.id for i in entry.items][:items],
        period_end=date.today() + timedelta(days=days),
    )
    data.update(overrides)
    return RequestIn.model_validate(data)


def consumer_system(session: Session, world: World, who: str = "civil_requester", name: str = "低保审核系统"):
    from govshare.orgs import systems

    system, secret = systems.register_system(session, world.actors[who], name)
    return system, secret


def submitted_request(session: Session, world: World, entry=None, who: str = "civil_requester", **overrides):
    """A submitted request of 省民政厅 for 公安 · 人口基本信息 (conditional), through 低保审核系统."""
    from govshare.sharing import service as sharing

    entry = entry or published_entry(session, world)
    system = overrides.pop("system", None) or consumer_system(session, world, who)[0]
    data = request_in(entry, consumer_system_id=system.id, **overrides)
    return sharing.create_request(session, world.actors[who], data, submit=True)
