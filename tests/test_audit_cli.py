"""`govshare audit ...` (R12) end to end against the test database: verify (exit 0 intact, 1 naming the first
problem), checkpoint, the node key and its permissions, records/totals/anomalies as a user, and the archive →
verify-archive → prune cycle that keeps the chain verifiable."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from govshare.audit import chain
from govshare.audit.models import Checkpoint, UsageRecord
from govshare.db import utcnow


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


def _records(db, count: int, *, years_ago: float = 0, department: int | None = None, provider: int | None = None,
             result: str = "ok") -> None:
    at = utcnow() - timedelta(days=365 * years_ago)
    with db.session() as s:
        for n in range(count):
            chain.append(s, at=at + timedelta(seconds=n), department_id=department, provider_id=provider,
                         mode="lookup", result=result, reason="" if result == "ok" else "item_not_granted",
                         request_hash=f"{n:064x}", row_count=1 if result == "ok" else 0, resource_code="34000011/00001")


def test_r12_cli_verify_exits_0_when_intact_and_1_naming_the_first_problem(cli, db):
    _records(db, 6)
    signed = cli("audit", "checkpoint")
    assert signed.exit_code == 0 and "已签署检查点" in signed.output, signed.output
    assert "无需新的检查点" in cli("audit", "checkpoint").output
    intact = cli("audit", "verify")
    assert intact.exit_code == 0, intact.output
    assert "使用记录链完整" in intact.output and "使用记录 6 条" in intact.output
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE usage_records SET result = 'ok', row_count = 50 WHERE seq = 4"))
    broken = cli("audit", "verify")
    assert broken.exit_code == 1
    assert "第一个问题在序号 4（记录被篡改）" in broken.output
    report = json.loads(cli("audit", "verify", "--json").output)
    assert not report["ok"] and report["first_problem"]["seq"] == 4 and report["first_problem"]["kind"] == "altered"


def test_r12_cli_key_shows_the_key_and_refuses_loose_permissions(cli, settings):
    missing = cli("audit", "key")
    assert missing.exit_code == 1 and "还没有签名密钥" in missing.output
    created = cli("audit", "key", "--create")
    assert created.exit_code == 0, created.output
    info = chain.key_info(settings)
    assert info.key_id in created.output and str(info.path) in created.output and "0600" in created.output
    os.chmod(info.path, 0o644)
    loose = cli("audit", "key")
    assert loose.exit_code == 1 and "chmod 600" in loose.output


def test_r12_cli_records_totals_and_anomalies_as_a_user(cli, db, world, settings):
    _records(db, 3, department=world.ids["civil"], provider=world.ids["police"])
    _records(db, 2, department=world.ids["city_civil"], provider=world.ids["police"], result="refused")
    mine = json.loads(cli("audit", "records", "--user", "civil_requester", "--json").output)
    assert [r["seq"] for r in mine] == [3, 2, 1] and {r["department_name"] for r in mine} == {"省民政厅"}
    provider = cli("audit", "records", "--user", "police_reviewer")
    assert provider.exit_code == 0 and "共 5 条" in provider.output and "请求未授权的信息项" in provider.output
    assert json.loads(cli("audit", "records", "--user", "other_reviewer", "--json").output) == []
    refused = json.loads(cli("audit", "records", "--result", "refused", "--json").output)  # the node operator
    assert [r["seq"] for r in refused] == [5, 4]
    totals = json.loads(cli("audit", "totals", "--user", "police_reviewer", "--by", "result", "--json").output)
    assert {t["key"]: t["calls"] for t in totals} == {"ok": 3, "refused": 2}
    by_day = cli("audit", "totals", "--user", "civil_requester")
    assert by_day.exit_code == 0 and "使用记录汇总" in by_day.output
    wrong = cli("audit", "totals", "--by", "month")
    assert wrong.exit_code == 2 and "字段：by" in wrong.output
    bad_date = cli("audit", "records", "--since", "2026/11/01")
    assert bad_date.exit_code == 2 and "字段：since" in bad_date.output
    quiet = cli("audit", "anomalies", "--user", "civil_requester")
    assert quiet.exit_code == 0 and "没有发现异常" in quiet.output


def test_r12_cli_archive_verify_archive_and_prune_keep_the_chain_green(cli, db, tmp_path):
    _records(db, 4, years_ago=4)
    _records(db, 2)
    cli("audit", "checkpoint")
    archive = tmp_path / "usage-2022.jsonl.gz"
    refused = cli("audit", "prune", "--archive", archive)
    assert refused.exit_code == 2 and "归档文件不存在" in refused.output
    made = cli("audit", "archive", archive)
    assert made.exit_code == 0, made.output
    assert "已归档 4 条使用记录（序号 1 至 4" in made.output
    checked = cli("audit", "verify-archive", archive)
    assert checked.exit_code == 0 and "使用记录链完整" in checked.output, checked.output
    today = (utcnow() + timedelta(days=1)).date().isoformat()
    early = cli("audit", "prune", "--archive", archive, "--before", today)
    assert early.exit_code == 2 and "至少保存" in early.output
    pruned = cli("audit", "prune", "--archive", archive)
    assert pruned.exit_code == 0 and "已清理 4 条使用记录" in pruned.output, pruned.output
    with db.session() as s:
        assert s.scalar(select(func.min(UsageRecord.seq))) == 5
        assert s.scalars(select(Checkpoint.kind).order_by(Checkpoint.id.desc())).first() == "prune"
    after = cli("audit", "verify")
    assert after.exit_code == 0 and "序号 5 至 6" in after.output, after.output
    again = cli("audit", "prune", "--archive", archive)  # nothing left past retention
    assert again.exit_code == 0, again.output
    assert re.search(r"没有 \d{4}-\d{2}-\d{2} 之前的使用记录需要清理", again.output), again.output
    with db.session() as s:
        assert s.scalar(select(func.min(UsageRecord.seq))) == 5
