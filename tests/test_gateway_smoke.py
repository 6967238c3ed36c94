"""First proof of the gateway path: token, lookup, page, verify, export and the chain (R09, R12)."""

from __future__ import annotations

from tests.gateway_factories import served_population


def _token(client, served) -> dict:
    response = client.post("/api/v1/gateway/token", json={"client_id": served.client_id,
                                                          "client_secret": served.secret})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_r09_lookup_page_verify_export_through_one_gateway(client, db, world, tmp_path):
    with db.session() as s:
        served = served_population(s, world, tmp_path, scope={"item": "xzqhdm", "prefixes": ["340104"]})
    headers = _token(client, served)
    inside = next(r for r in served.rows if r["XZQH"] == "340104")
    outside = next(r for r in served.rows if r["XZQH"] == "340102")
    code = served.resource_code
    found = client.get(f"/api/v1/data/{code}", params={"grant": served.grant_id, "key": inside["GMSFHM"]},
                       headers=headers)
    assert found.status_code == 200, found.text
    row = found.json()["rows"][0]
    assert row["xzqhdm"] == "340104" and row["gmsfhm"] != inside["GMSFHM"]
    refused = client.get(f"/api/v1/data/{code}", params={"grant": served.grant_id, "key": outside["GMSFHM"]},
                         headers=headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "row_out_of_scope"
    page = client.get(f"/api/v1/data/{code}/rows", params={"grant": served.grant_id, "limit": 4}, headers=headers)
    assert page.status_code == 200, page.text
    assert {r["xzqhdm"] for r in page.json()["rows"]} == {"340104"} and page.json()["next_cursor"]
    verdict = client.post(f"/api/v1/data/{code}/verify", headers=headers,
                          json={"grant": served.grant_id, "fields": {"gmsfhm": inside["GMSFHM"], "xm": inside["XM"]}})
    assert verdict.status_code == 200 and verdict.json()["result"] == "match", verdict.text
    export = client.post(f"/api/v1/data/{code}/export", headers=headers, json={"grant": served.grant_id})
    assert export.status_code == 200, export.text
    assert int(export.headers["X-Row-Count"]) == 10
    from govshare.audit import chain
    report = chain.verify(db)
    assert report.ok and report.records == 5, report.problems
