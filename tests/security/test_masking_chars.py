"""Masking, character by character (R17, R09): real-looking rows are served through the gateway under every
masking rule the platform offers, and each served value is compared with the raw row, position by position: it
holds no character of the original beyond those its rule keeps, on the key lookup, the page and the export (CSV
and Parquet).

The rows: real addresses and unified social credit codes of the Shanghai enterprise register
(../shared/data/real/datasets/enterprise_registration_shanghai_2002.csv, the good rows), real mobile numbers
(../shared/data/real/vectors/cn_mobile_numbers.json), and ID numbers with real county codes
(../shared/data/real/reference/admin_divisions_county.csv) and valid check digits; the register has no personal
names (its 法定代表人 is N/A), so names are real surnames (the package's list) with common given names. They are
uploaded as a provider's CSV file (gateway.connect.connect_file) and served under 省民政厅's grant.

Rules: the defaults by grade and detected kind (what GET …/masking states), then every rule set on every item by
the provider's reviewer: none, keep:F:L (several), hash, year, null. `xh` (a row number, not personal) stays
`none` so that served rows can be matched to raw rows whatever order an export writes them in."""

from __future__ import annotations

import csv
import io
import json
import random
import re

import pyarrow.parquet as pq
import pytest
from stdnum.cn import ric

from govshare.catalog.schemas import ItemIn
from govshare.gateway import connect
from govshare.search.index import registry
from govshare.sharing import service as sharing
from govshare.sharing.schemas import ReplyIn
from tests.conftest import REAL
from tests.factories import consumer_system, published_entry, request_in
from tests.gateway_factories import token_headers

ROWS = 48
ITEMS = [  # name, Chinese name, grade, personal information
    ("xh", "序号", "general_1", "none"),
    ("gmsfhm", "公民身份号码", "general_4", "spi"),
    ("xm", "姓名", "general_3", "spi"),
    ("sjhm", "手机号码", "general_3", "spi"),
    ("hjdz", "户籍地址", "general_3", "pi"),
    ("csrq", "出生日期", "general_3", "spi"),
    ("tyshxydm", "统一社会信用代码", "general_2", "none"),
]
MASKED = [name for name, *_ in ITEMS if name != "xh"]
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国玉兰志红"
RULES = ["none", "keep:6:4", "keep:1:0", "keep:3:4", "keep:0:2", "keep:0:0", "keep:25:0", "hash", "year", "null"]


def real_rows(count: int = ROWS, seed: int = 12) -> list[dict]:
    rng = random.Random(seed)
    with (REAL / "datasets" / "enterprise_registration_shanghai_2002.csv").open(encoding="utf-8") as handle:
        register = [r for r in csv.DictReader(handle)
                    if re.fullmatch(r"[0-9A-Z]{18}", r["统一社会信用代码"] or "") and "上海" in (r["注册地址"] or "")]
    mobiles = json.loads((REAL / "vectors" / "cn_mobile_numbers.json").read_text(encoding="utf-8"))
    phones = sorted({str(n) for numbers in mobiles["carrier"].values() if isinstance(numbers, list)
                     for n in numbers if len(str(n)) == 11})
    with (REAL / "reference" / "admin_divisions_county.csv").open(encoding="utf-8") as handle:
        counties = [r["code"] for r in csv.DictReader(handle)]
    surnames = _surnames()
    rows = []
    for n in range(count):
        born = f"{rng.randrange(1940, 2005)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
        body = f"{rng.choice(counties)}{born}{rng.randrange(1000):03d}"
        company = register[(n * 37) % len(register)]
        rows.append({"xh": str(n + 1), "gmsfhm": body + ric.calc_check_digit(body + "0"),
                     "xm": rng.choice(surnames) + "".join(rng.sample(GIVEN, rng.choice((1, 2)))),
                     "sjhm": phones[(n * 7) % len(phones)], "hjdz": company["注册地址"],
                     "csrq": f"{born[:4]}-{born[4:6]}-{born[6:]}", "tyshxydm": company["统一社会信用代码"]})
    return rows


def _surnames() -> list[str]:
    from importlib import resources

    text = resources.files("govshare").joinpath("data/surnames.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


@pytest.fixture
def served(app, client, db, world, tmp_path):
    """The rows uploaded by 省公安厅 as a CSV file source of a published entry, and 省民政厅's approved grant of
    every item (rate high enough for the walk)."""
    registry.detach(db.url)
    rows = real_rows()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    items = [ItemIn(name=n, chinese_name=c, data_type="string", grade=g, personal_info=p) for n, c, g, p in ITEMS]
    with db.session() as s:
        entry = published_entry(s, world, items=items)
        connect.connect_file(s, world.actors["police_manager"], entry.id, out.getvalue().encode(), "people.csv",
                             "gmsfhm")
        system, secret = consumer_system(s, world)
        request = sharing.create_request(s, world.actors["civil_requester"], request_in(
            entry, consumer_system_id=system.id), submit=True)
        sharing.reply(s, world.actors["police_reviewer"], request.id, ReplyIn(decision="approve", rate_limit=1000))
        grant = sharing.grant_of(s, request.id)
        code, grant_id = entry.resource_code, grant.id
    return {"rows": {r["xh"]: r for r in rows}, "code": code, "grant": grant_id,
            "headers": token_headers(client, system.client_id, secret)}


# ---------------------------------------------------------------- comparing one value with its raw value


def check(rule: str, raw: str, shown, where: str, hashes: dict) -> None:
    """`shown` holds no character of `raw` beyond the positions `rule` keeps, in the rule's shape."""
    label = f"{where}: {rule} of {raw!r} gave {shown!r}"
    if rule == "none":
        assert shown == raw, label
        return
    if rule == "null":
        assert shown is None, label
        return
    assert isinstance(shown, str), label
    if rule == "hash":
        assert re.fullmatch(r"[0-9a-f]{64}", shown), label
        assert hashes.setdefault(raw, shown) == shown, f"{label}: another token than elsewhere for the same value"
        return
    if rule == "year":
        assert shown == raw[:4], label
        return
    first, last = (int(n) for n in rule.split(":")[1:])
    assert len(shown) == len(raw), label
    kept = set() if len(raw) <= first + last else set(range(first)) | set(range(len(raw) - last, len(raw)))
    for position, (s_char, r_char) in enumerate(zip(shown, raw, strict=True)):
        assert s_char == (r_char if position in kept else "*"), f"{label}: position {position}"


def _masking(client, world, served) -> dict[str, str]:
    response = client.get(f"/api/v1/gateway/grants/{served['grant']}/masking", headers=world.headers("police_reviewer"))
    assert response.status_code == 200, response.text
    return {name: value["rule"] for name, value in response.json()["effective"].items()}


def _served_rows(client, served) -> dict[str, list[tuple[str, dict]]]:
    """Every way a requester gets rows: three key lookups, every page, both export formats."""
    code, grant, headers = served["code"], served["grant"], served["headers"]
    out: dict[str, list[tuple[str, dict]]] = {"lookup": [], "page": [], "export csv": [], "export parquet": []}
    for raw in list(served["rows"].values())[:3]:
        response = client.get(f"/api/v1/data/{code}", headers=headers, params={"grant": grant, "key": raw["gmsfhm"]})
        assert response.status_code == 200, response.text
        out["lookup"] += [(raw["xh"], row) for row in response.json()["rows"]]
    cursor = None
    while True:
        params = {"grant": grant, "limit": 20, **({"cursor": cursor} if cursor else {})}
        response = client.get(f"/api/v1/data/{code}/rows", headers=headers, params=params)
        assert response.status_code == 200, response.text
        out["page"] += [(row["xh"], row) for row in response.json()["rows"]]
        cursor = response.json()["next_cursor"]
        if not cursor:
            break
    for fmt in ("csv", "parquet"):
        response = client.post(f"/api/v1/data/{code}/export", headers=headers, json={"grant": grant, "format": fmt,
                                                                                        "headers": "field"})
        assert response.status_code == 200, response.text
        if fmt == "csv":
            exported = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
            exported = [{k: (v if v != "" else None) for k, v in row.items()} for row in exported]
        else:
            exported = pq.read_table(io.BytesIO(response.content)).to_pylist()
        out[f"export {fmt}"] = [(row["xh"], row) for row in exported]
    assert len(out["page"]) == len(out["export csv"]) == len(out["export parquet"]) == ROWS
    return out


def _check_all(served_rows: dict, served: dict, rules: dict[str, str]) -> None:
    hashes: dict = {}
    for mode, rows in served_rows.items():
        for xh, row in rows:
            raw = served["rows"][xh]
            assert row["xh"] == raw["xh"]
            for name in MASKED:
                check(rules[name], raw[name], row.get(name), f"{mode} row {xh} {name}", hashes)


def test_r17_the_default_masking_shows_only_the_kept_characters(client, world, served):
    rules = _masking(client, world, served)
    # what the grades and detected kinds give (gateway.masking.KIND_DEFAULTS): the defaults this file states
    assert {n: rules[n] for n in MASKED} == {"gmsfhm": "keep:6:4", "xm": "keep:1:0", "sjhm": "keep:3:4",
                                             "hjdz": "keep:6:0", "csrq": "year", "tyshxydm": "none"}
    _check_all(_served_rows(client, served), served, rules)


def test_r17_every_rule_shows_only_the_characters_it_keeps(client, world, served):
    """Each rule in turn on every item (set by the provider's reviewer, as the API offers it)."""
    for rule in RULES:
        response = client.put(f"/api/v1/gateway/grants/{served['grant']}/masking",
                              headers=world.headers("police_reviewer"), json={"rules": dict.fromkeys(MASKED, rule)})
        assert response.status_code == 200, response.text
        rules = _masking(client, world, served)
        assert {n: rules[n] for n in MASKED} == dict.fromkeys(MASKED, rule)
        _check_all(_served_rows(client, served), served, rules)


def test_the_rows_are_real_looking_and_valid():
    """The test data itself: valid ID numbers and credit codes, 11-digit mobile numbers, Chinese addresses."""
    from stdnum.cn import uscc

    rows = real_rows()
    assert len({r["gmsfhm"] for r in rows}) == ROWS
    # (python-stdnum's own list of birth places predates some of the 2022 county codes: the checksum and date only)
    assert all(ric.calc_check_digit(r["gmsfhm"]) == r["gmsfhm"][-1] and ric.get_birth_date(r["gmsfhm"]) for r in rows)
    assert all(uscc.is_valid(r["tyshxydm"]) for r in rows)
    assert all(re.fullmatch(r"1\d{10}", r["sjhm"]) and "上海" in r["hjdz"] and 2 <= len(r["xm"]) <= 4 for r in rows)
