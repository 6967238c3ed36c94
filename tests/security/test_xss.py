"""Stored cross-site scripting (R18; DESIGN: every department user may attack the others): every text a
department user can store (entry name, abstract, share condition, source system, item names and descriptions,
reasons of returns, revisions, replies, escalations, dispute decisions and revocations, request purposes,
scenarios and duty bases, consumer system names, demand texts and answers, service change descriptions, one-source
reasons, an uploaded catalog's file name, the cells and column names of a provider's data file, the item names a
consumer system asks the gateway for) carries a payload of script tags, an attribute breakout with an event
handler, a `javascript:` link and template syntax. Every page that shows it is opened by the users who see it:
the payload never appears unescaped, and each one is shown (escaped) on its page, so the check is not vacuous.

Entry names with HTML in the catalog search results and their highlight are tests/test_web.py
(test_entry_name_with_html_is_escaped_in_results_and_highlight, test_highlight_keeps_only_the_highlighters_em)."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from govshare.catalog import onesource
from govshare.catalog import service as catalog
from govshare.catalog.schemas import ItemIn
from govshare.demands import service as demands
from govshare.deps import SESSION_COOKIE
from govshare.gateway import connect
from govshare.gateway import service as gateway
from govshare.orgs import systems
from govshare.search.index import registry
from govshare.sharing import changes, disputes
from govshare.sharing import service as sharing
from govshare.sharing.models import DisputeStep
from govshare.sharing.schemas import ReplyIn
from govshare.sharing.vocab import ServiceChangeKind
from govshare.workdays import service as workdays
from tests.authz_cases_issue3 import more_users
from tests.factories import SYSTEM, population_entry, published_entry, request_in
from tests.gateway_factories import token_headers
from tests.web_helpers import token


def payload(tag: str) -> str:
    """Script tags, an attribute breakout with an event handler, a javascript: link and template syntax."""
    return (f'{tag}低保审核"><img src=x onerror=alert(1)><script>alert("{tag}")</script>{{{{7*7}}}}'
            f'<a href="javascript:alert(1)">x</a>')


def shown(tag: str) -> str:
    """What a page shows of the payload once its escaping is undone (the template syntax not evaluated)."""
    return f'<script>alert("{tag}")</script>{{{{7*7}}}}'


# raw in a page, any of these would run
DANGEROUS = ('"><img src=x onerror=', "<img src=x", "<script>alert(", 'href="javascript:')


def _entry(name: str, **overrides):
    items = [ItemIn(name="gmsfhm", chinese_name="公民身份号码", data_type="string", grade="general_4",
                    personal_info="spi"),
             ItemIn(name="xm", chinese_name=payload("ITEMNAME"), data_type="string", grade="general_3",
                    personal_info="pi", description=payload("ITEMDESC")),
             ItemIn(name="xzqhdm", chinese_name="行政区划代码", data_type="string", grade="general_1",
                    personal_info="none")]
    return population_entry(name=name, abstract=payload("ABSTRACT"), share_condition=payload("CONDITION"),
                            source_system=payload("SOURCESYSTEM"), items=items, **overrides)


@pytest.fixture
def stored(app, client, db, world, tmp_path) -> dict:
    """Every stored text field set to a payload by the department user who may set it."""
    registry.detach(db.url)
    a = world.actors
    ids: dict = {}
    with db.session() as s:
        more_users(s, world)
        police = a["police_manager"]
        entry = catalog.create_entry(s, police, _entry(payload("ENTRYNAME")))
        catalog.submit_entry(s, police, entry.id)
        catalog.publish_entry(s, a["reviewer"], entry.id)
        ids["entry"] = entry.id
        ids["draft"] = catalog.create_entry(s, police, population_entry(name=payload("DRAFTNAME"))).id
        returned = catalog.create_entry(s, police, population_entry(name="被退回的目录"))
        catalog.submit_entry(s, police, returned.id)
        catalog.return_entry(s, a["reviewer"], returned.id, payload("RETURNREASON"))
        other = published_entry(s, world, name="户籍人口信息")
        catalog.propose_revision(s, police, other.id, population_entry(name="户籍人口信息（修订）"),
                                 payload("REVISIONREASON"))
        # the provider's data: a CSV whose cells and one column name carry payloads, and one bad row
        rows = [{"GMSFHM": "340104199001010011", "XM": payload("CELL"), "XZQH": "340104", payload("COLUMN"): "x"},
                {"GMSFHM": "", "XM": payload("BADROW"), "XZQH": "340104", payload("COLUMN"): "y"}]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        connect.connect_file(s, police, entry.id, out.getvalue().encode(), "rk.csv", "gmsfhm",
                             {"gmsfhm": "GMSFHM", "xm": "XM", "xzqhdm": "XZQH"})
        system, secret = systems.register_system(s, a["civil_requester"], payload("SNAME"),
                                                 payload("SYSTEMDESC"))
        ids["client_id"], ids["secret"] = system.client_id, secret
        full = s.get(type(entry), entry.id)

        def ask(**texts):
            return sharing.create_request(s, a["civil_requester"], request_in(
                full, consumer_system_id=system.id, **texts), submit=True)

        granted = ask(purpose=payload("PURPOSE"), scenario=payload("SCENARIO"), duty_basis=payload("DUTYBASIS"))
        sharing.reply(s, a["police_reviewer"], granted.id, ReplyIn(decision="approve"))
        ids["request"], ids["grant"] = granted.id, sharing.grant_of(s, granted.id).id
        gateway.set_masking(s, a["police_reviewer"], ids["grant"], {"xm": "none"})
        revoked = ask(purpose="临时救助对象审核")
        sharing.reply(s, a["police_reviewer"], revoked.id, ReplyIn(decision="approve"))
        sharing.revoke_grant(s, a["police_reviewer"], sharing.grant_of(s, revoked.id).id, payload("REVOKEREASON"))
        ids["revoked"] = revoked.id
        refused = ask(purpose="教育救助对象审核")
        sharing.reply(s, a["police_reviewer"], refused.id, ReplyIn(decision="refuse", reason=payload("REPLYREASON")))
        step = disputes.escalate(s, a["civil_requester"], refused.id, payload("ESCALATION"))
        ids["refused"], ids["step"] = refused.id, step.id
        contested = ask(purpose="特困人员供养审核")
        sharing.reply(s, a["police_reviewer"], contested.id, ReplyIn(decision="refuse", reason="不符"))
        step2 = disputes.escalate(s, a["civil_requester"], contested.id, "确需户籍信息")
        disputes.decide(s, a["police_reviewer"], step2.id, ReplyIn(decision="refuse", reason=payload("DECISION")))
        ids["contested"] = contested.id
        demand = demands.post_demand(s, a["civil_requester"], payload("DEMANDTITLE"), payload("DEMANDTEXT"),
                                     provider_id=world.ids["police"])
        demands.answer_demand(s, police, demand.id, False, reason=payload("DEMANDANSWER"))
        ids["demand"] = demand.id
        effective = changes.earliest_effective_date(s, workdays.local_today(s)) + timedelta(days=7)
        ids["change"] = changes.propose(s, police, entry.id, ServiceChangeKind.STOP, payload("CHANGETEXT"),
                                        effective).id
        published_entry(s, world, "civil_manager", name="低保对象信息")  # the same items: a cluster
        onesource.detect_clusters(s, SYSTEM)
        cluster = onesource.list_clusters(s, SYSTEM)[0]
        onesource.name_lead_source(s, a["reviewer"], cluster.id, world.ids["police"], payload("LEADREASON"))
        assert s.scalars(select(DisputeStep).where(DisputeStep.id == step.id)).one()
    # a consumer system asks for items named by a payload: refused, and on the record (shown on /audit)
    headers = token_headers(client, ids["client_id"], ids["secret"])
    with db.session() as s:
        code = s.get(type(full), ids["entry"]).resource_code
    refused_call = client.get(f"/api/v1/data/{code}", headers=headers,
                              params={"grant": ids["grant"], "key": "340104199001010011", "items": payload("ITEMS")})
    assert refused_call.status_code == 403, refused_call.text
    return ids


def _page(client, world, who: str, url: str) -> str:
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, world.tokens[who])
    response = client.get(url, follow_redirects=False)
    client.cookies.clear()
    assert response.status_code == 200, (who, url, response.status_code, response.text[:300])
    return response.text


# (tag, who opens the page, the page) — each payload on the page that must show it; further pages that show
# the same texts are opened too and checked for raw payloads.
SHOWN_ON = [
    ("ENTRYNAME", "civil_requester", "/catalog/{entry}"),
    ("ABSTRACT", "civil_requester", "/catalog/{entry}"),
    ("CONDITION", "civil_requester", "/catalog/{entry}"),
    ("SOURCESYSTEM", "civil_requester", "/catalog/{entry}"),
    ("ITEMNAME", "civil_requester", "/catalog/{entry}"),
    ("ITEMDESC", "civil_requester", "/catalog/{entry}"),
    ("DRAFTNAME", "police_manager", "/my/catalog/{draft}/edit"),
    ("RETURNREASON", "police_manager", "/my/catalog"),
    ("REVISIONREASON", "reviewer", "/review"),
    ("PURPOSE", "police_reviewer", "/sharing/requests/{request}"),
    ("SCENARIO", "police_reviewer", "/sharing/requests/{request}"),
    ("DUTYBASIS", "police_reviewer", "/sharing/requests/{request}"),
    ("REPLYREASON", "civil_requester", "/sharing/requests/{refused}"),
    ("ESCALATION", "police_reviewer", "/sharing/requests/{refused}"),
    ("DECISION", "civil_requester", "/sharing/requests/{contested}"),
    ("REVOKEREASON", "civil_requester", "/sharing/requests/{revoked}"),
    ("SNAME", "civil_requester", "/sharing/systems"),
    ("SYSTEMDESC", "civil_requester", "/sharing/systems"),
    ("DEMANDTITLE", "police_manager", "/demands/{demand}"),
    ("DEMANDTEXT", "police_manager", "/demands/{demand}"),
    ("DEMANDANSWER", "civil_requester", "/demands/{demand}"),
    ("CHANGETEXT", "reviewer", "/sharing/changes/{change}"),
    ("LEADREASON", "reviewer", "/one-source"),
    ("CELL", "civil_requester", "/data/preview?grant={grant}"),
    ("BADROW", "police_manager", "/sources/{entry}"),
    ("COLUMN", "police_manager", "/sources/{entry}"),
    ("ITEMS", "civil_requester", "/audit"),
    ("ENTRYNAME", "police_reviewer", "/notifications"),  # notification texts name the entry
    ("ENTRYNAME", "civil_requester", "/sharing/grants"),
    ("SNAME", "police_reviewer", "/sharing/requests/{request}"),
    ("DEMANDTITLE", "civil_requester", "/demands"),
]
ALSO_OPENED = [
    ("civil_requester", "/sharing/requests"), ("police_reviewer", "/sharing/requests"),
    ("police_reviewer", "/sharing/disputes"), ("civil_requester", "/sharing/grants"),
    ("police_reviewer", "/sharing/grants"), ("civil_requester", "/demands"), ("police_manager", "/demands"),
    ("police_reviewer", "/notifications"), ("civil_requester", "/notifications"), ("police_manager", "/notifications"),
    ("police_manager", "/my/catalog"), ("police_manager", "/sources"), ("police_reviewer", "/audit"),
    ("reviewer", "/audit"), ("auditor", "/audit"), ("civil_requester", "/sharing/requests/new?entry_id={entry}"),
    ("civil_requester", "/sharing/requests/{request}"), ("police_manager", "/catalog/{entry}"),
    ("admin", "/one-source"), ("reviewer", "/review"),
]


def test_r18_stored_payloads_are_escaped_on_every_page_that_shows_them(client, world, stored):
    pages: dict[tuple[str, str], str] = {}
    for who, url in [(w, u) for _t, w, u in SHOWN_ON] + ALSO_OPENED:
        key = (who, url.format(**stored))
        if key not in pages:
            pages[key] = _page(client, world, *key)
    raw = [f"{who} {url}: {bad!r}" for (who, url), text in pages.items() for bad in DANGEROUS if bad in text]
    assert not raw, "payloads shown unescaped:\n" + "\n".join(raw)
    javascript = [f"{who} {url}" for (who, url), text in pages.items()
                  if re.search(r"(href|src|action)\s*=\s*[\"']?\s*javascript:", text, re.I)]
    assert not javascript, javascript
    missing = [f"{tag} on {url} for {who}" for tag, who, url in SHOWN_ON
               if shown(tag) not in html.unescape(pages[(who, url.format(**stored))])]
    assert not missing, "payloads not shown where expected (the check would be vacuous):\n" + "\n".join(missing)


def test_r18_payloads_typed_into_a_refused_form_are_escaped_when_shown_back(client, world, as_user):
    """A form refused for a missing field shows what was typed again: as text."""
    manager = as_user("police_manager")
    form = {"csrf_token": token(manager), "name": payload("TYPEDNAME"), "abstract": payload("TYPEDABSTRACT"),
            "classification_code": "", "item-0-name": "", "item-0-chinese_name": payload("TYPEDITEM")}
    response = manager.post("/my/catalog/new", data=form)
    assert response.status_code in (400, 409, 422), response.text[:300]
    assert not [bad for bad in DANGEROUS if bad in response.text]
    assert shown("TYPEDNAME") in html.unescape(response.text)


def test_r18_an_uploaded_catalogs_file_name_is_escaped_in_the_report(client, world, as_user):
    """The import report names the file as the browser sent it (only its last path part is kept)."""
    manager = as_user("police_manager")
    name = "FILENAME'><img src=x onerror=alert(1)>{{7*7}}.csv"
    body = "目录名称,提供部门,分类代码,摘要,数据格式,共享类型,共享条件,共享方式,更新周期,信息项\n" \
           "导入的人口信息,省公安厅,101,全省户籍人口,数据库,无条件共享,,接口,每日,姓名\n"
    response = manager.post("/catalog/import", data={"csrf_token": token(manager)},
                            files={"file": (name, body.encode(), "text/csv")})
    assert response.status_code == 200, response.text[:300]
    assert not [bad for bad in DANGEROUS if bad in response.text]
    assert name in html.unescape(response.text)
