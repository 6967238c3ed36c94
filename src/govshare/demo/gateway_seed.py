"""Seeds the demo's data sources (issue 4), so that the granted entries can be previewed and called:

- 省公安厅 · 人口基本信息: a table RK_JBXX in the police's own database (a SQLite file under
  data_dir/demo_sources/), connected as a SQL source; its profile is confirmed by the department reviewer.
- 省市场监管局 · 企业登记信息: a CSV export of the registration system, loaded as a file source; three of its
  rows are broken on purpose (a field too many, a wrong check character, mis-decoded text) so that the load
  report has something to show; its profile awaits confirmation.
- 省民政厅 · 婚姻登记信息: an XLSX file, loaded as a file source (its grant is verification only).

All data is synthetic and deterministic (fixed seeds): ID numbers and credit codes carry valid check
characters, names use common surnames, and most residents live in 合肥 (3401), the row scope of the 低保 grant.
Everything goes through gateway.connect with the provider's own users."""

from __future__ import annotations

import csv
import io
import random
import sqlite3
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.cn import ric, uscc

from govshare.authz import Actor
from govshare.catalog.models import CatalogEntry
from govshare.config import settings_of
from govshare.gateway import connect, connections
from govshare.orgs.models import Department
from govshare.quality import service as quality

RESIDENTS = 2_000
ENTERPRISES = 500
MARRIAGES = 300
# 合肥 瑶海/庐阳/蜀山/包河 (most residents: the 低保 grant is scoped to 3401), 芜湖 镜湖, 六安 金安
REGIONS = ("340102", "340103", "340104", "340111", "340102", "340104", "340202", "341502")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌浩宇欣怡子涵梓轩"
STREETS = ("长江中路", "淮河路", "金寨路", "望江西路", "黄山路", "徽州大道", "宿州路", "芜湖路", "马鞍山路")
INDUSTRIES = (("科技", "软件开发、信息技术咨询服务"), ("商贸", "日用百货、五金交电销售"),
              ("建筑工程", "房屋建筑工程施工"), ("餐饮管理", "餐饮服务、食品销售"),
              ("物流", "道路普通货物运输、仓储服务"), ("医药", "药品零售、医疗器械销售"),
              ("文化传媒", "广告设计、制作、代理、发布"))
RELATIONS = ("户主", "配偶", "子", "女", "父母")
SOURCES_DIR = "demo_sources"


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _id_number(rng: random.Random, region: str, born: date, male: bool) -> str:
    serial = rng.randrange(100) * 10 + (rng.choice((1, 3, 5, 7, 9)) if male else rng.choice((0, 2, 4, 6, 8)))
    body = f"{region}{born:%Y%m%d}{serial:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum reads the number with a place for its check digit


def _address(rng: random.Random, region: str) -> str:
    city = {"3401": "合肥市", "3402": "芜湖市", "3415": "六安市"}[region[:4]]
    building, room = rng.randrange(1, 40), rng.randrange(1, 30)
    return f"安徽省{city}{rng.choice(STREETS)}{rng.randrange(1, 999)}号{building}栋{room}01室"


def residents(count: int = RESIDENTS, seed: int = 2024) -> list[dict]:
    """人口基本信息 rows as the police's population system holds them (its own upper-case column names)."""
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        region = REGIONS[n % len(REGIONS)]
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(30_000))
        male = rng.random() < 0.5
        rows.append({"GMSFHM": _id_number(rng, region, born, male), "XM": _name(rng), "XB": "1" if male else "2",
                     "CSRQ": born.isoformat(), "HJDZ": _address(rng, region), "HH": f"{rng.randrange(10**9):09d}",
                     "YHZGX": rng.choice(RELATIONS), "SWBS": "1" if rng.random() < 0.02 else "0"})
    return rows


MISSING_REPRESENTATIVE = (7, 19, 42, 88)
FUTURE_ESTABLISHMENT = 131


def _credit_code(rng: random.Random) -> str:
    body = "91" + rng.choice(("340100", "340104", "340111", "340200")) + "".join(
        rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
    return body + uscc.calc_check_digit(body)


def enterprises(count: int = ENTERPRISES, seed: int = 2025) -> list[dict]:
    """企业登记信息 rows with the Chinese headers of the registration system's CSV export."""
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        trade, scope = rng.choice(INDUSTRIES)
        rows.append({
            "统一社会信用代码": _credit_code(rng),
            "企业名称": f"合肥{rng.choice('华瑞鑫宏盛泰安康恒远嘉禾')}{rng.choice('达源信通联创博')}{trade}有限公司",
            "法定代表人": _name(rng), "注册资本": str(rng.choice((10, 50, 100, 200, 500, 1000))),
            "成立日期": (date(2000, 1, 1) + timedelta(days=rng.randrange(9000))).isoformat(),
            "登记状态": rng.choice(("存续", "存续", "存续", "在业", "注销")),
            "住所": _address(rng, "340104"), "经营范围": scope,
        })
        if n == 0:
            rows[0]["企业名称"] = "合肥华瑞达科技有限公司"
    # defects as a real register has them, for the quality report (R14): the legal representative missing, and
    # an establishment date typed as a year still to come
    for n in MISSING_REPRESENTATIVE:
        rows[n]["法定代表人"] = "N/A"
    rows[FUTURE_ESTABLISHMENT]["成立日期"] = "2103-05-12"
    return rows


def enterprise_csv(rows: list[dict]) -> bytes:
    """The export, with three broken rows the load report must name (data rows 101, 202, 303)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    lines = out.getvalue().splitlines()
    lines[101] += ",多余字段"  # a field too many
    code = rows[201]["统一社会信用代码"]
    lines[202] = lines[202].replace(code, code[:-1] + ("0" if code[-1] != "0" else "1"), 1)  # wrong check character
    lines[303] = lines[303].replace(rows[302]["企业名称"], "\ufffd\ufffd\ufffd有限公司", 1)  # mis-decoded text
    return ("\n".join(lines) + "\n").encode("utf-8")


def marriages(count: int = MARRIAGES, seed: int = 2026) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        region = rng.choice(REGIONS)
        husband = date(1960, 1, 1) + timedelta(days=rng.randrange(14_000))
        wife = husband + timedelta(days=rng.randrange(-1500, 1500))
        rows.append({"男方身份证号": _id_number(rng, region, husband, True), "男方姓名": _name(rng),
                     "女方身份证号": _id_number(rng, region, wife, False), "女方姓名": _name(rng),
                     "登记类型": rng.choice(("结婚", "结婚", "结婚", "离婚", "补发")),
                     "登记日期": (husband + timedelta(days=rng.randrange(8000, 12000))).isoformat(),
                     "登记机关": f"{_address(rng, region)[3:6]}民政局婚姻登记处"})
    return rows


def marriage_xlsx(rows: list[dict]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("婚姻登记")
    sheet.append(list(rows[0]))
    for row in rows:
        sheet.append(list(row.values()))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def population_database(path: Path, rows: list[dict]) -> str:
    """The police's own database (a fresh SQLite file); returns its SQLAlchemy URL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    columns = list(rows[0])
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE RK_JBXX ({', '.join(c + ' TEXT' for c in columns)}, PRIMARY KEY (GMSFHM))")
        conn.executemany(f"INSERT INTO RK_JBXX VALUES ({', '.join('?' for _ in columns)})",
                         [tuple(r.values()) for r in rows])
    return f"sqlite:///{path.resolve()}"


def _entry(session: Session, department: Department, name: str) -> CatalogEntry | None:
    return session.scalars(select(CatalogEntry).where(CatalogEntry.provider_id == department.id,
                                                      CatalogEntry.name == name)).first()


POPULATION_CONNECTION = "人口信息管理系统库"
STEPS = ("数据源：人口基本信息（库表）", "数据源：企业登记信息（CSV 文件）", "数据源：婚姻登记信息（XLSX 文件）",
         "数据质量：确认建议的规则并检查")


def seed_sources(session: Session, departments: dict[str, Department], actors: dict[str, Actor],
                 step: Callable[[str], None] | None = None) -> list[int]:
    """Connects the three demo sources (`departments` and `actors` keyed like demo.data: department keys and
    usernames). Returns the connected entries' ids; an entry missing from the catalog is skipped."""
    report = step or (lambda _description: None)
    folder = settings_of(session).data_dir / SOURCES_DIR
    connected = []
    report(STEPS[0])
    population = _entry(session, departments["police"], "人口基本信息")
    if population is not None:
        url = population_database(folder / "police_population.db", residents())
        # the platform admin registers the police's database once; the police's manager then chooses it
        if not any(c.name == POPULATION_CONNECTION for c in connections.visible(session, actors["police_manager"])):
            connections.register(session, Actor.system(), departments["police"].id, POPULATION_CONNECTION, "sql",
                                 url, ["RK_JBXX"])
        connect.connect_sql(session, actors["police_manager"], population.id, POPULATION_CONNECTION, "RK_JBXX",
                            "gmsfhm")
        connect.confirm_profile(session, actors["police_reviewer"], population.id, accept_all=True,
                                reason="接入人口信息管理系统后，按数据画像确认分级")
        connected.append(population.id)
    report(STEPS[1])
    enterprise = _entry(session, departments["market"], "企业登记信息")
    if enterprise is not None:
        connect.connect_file(session, actors["market_manager"], enterprise.id, enterprise_csv(enterprises()),
                             "企业登记信息导出.csv", "tyshxydm")
        connected.append(enterprise.id)
    report(STEPS[2])
    marriage = _entry(session, departments["civil"], "婚姻登记信息")
    if marriage is not None:
        connect.connect_file(session, actors["civil_manager"], marriage.id, marriage_xlsx(marriages()),
                             "婚姻登记信息.xlsx", "nfsfzh")
        connect.confirm_profile(session, actors["civil_reviewer"], marriage.id, accept_all=True)
        connected.append(marriage.id)
    report(STEPS[3])
    if enterprise is not None:  # what a steward adds to the proposals: every registration names its representative
        established = {"min": "1949-10-01", "max": date.today().isoformat()}
        declared = {(r.kind, r.item) for r in quality.list_rules(session, actors["market_manager"], enterprise.id)}
        for rule in ({"kind": "required", "item": "fddbr"}, {"kind": "range", "item": "clrq", "params": established}):
            if (rule["kind"], rule["item"]) not in declared:  # seeding again keeps what is there
                quality.declare_rule(session, actors["market_manager"], enterprise.id, rule)
    for entry, reviewer in ((population, "police_reviewer"), (enterprise, "market_reviewer"),
                            (marriage, "civil_reviewer")):
        if entry is not None:
            _check_quality(session, actors[reviewer], entry.id)
    session.flush()
    return connected


def _check_quality(session: Session, reviewer: Actor, entry_id: int) -> None:
    """The provider confirms the rules the platform proposed when the source was connected, and runs them (R14)."""
    proposed = [rule.id for rule in quality.list_rules(session, reviewer, entry_id) if rule.confirmed_at is None]
    if proposed:
        quality.confirm_rules(session, reviewer, entry_id, proposed)
    quality.run_quality(session, reviewer, entry_id)


def total_steps() -> int:
    return len(STEPS)
