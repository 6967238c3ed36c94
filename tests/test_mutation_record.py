"""The mutation record is kept (issue 20, docs/testing.md): `make mutation` writes each module's score to
bench/results/mutation.json; every module recorded reaches the target, and every mutant it did not kill is
named in docs/testing.md with why it is equivalent. A survivor left unexplained fails here."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORD = json.loads((ROOT / "bench" / "results" / "mutation.json").read_text(encoding="utf-8"))
EXPLAINED = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
MUTATED = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]["only_mutate"]


def test_only_the_configured_modules_are_recorded_with_their_paths():
    assert {entry["path"] for entry in RECORD["modules"].values()} <= set(MUTATED)
    assert RECORD["modules"], "no module has been run: make mutation"


COMPLETE = sorted(name for name, entry in RECORD["modules"].items() if entry["complete"])


def test_a_module_not_complete_is_said_so_in_docs_testing():
    """An interrupted run is no verdict: docs/testing.md must say which modules still wait for a whole run."""
    for name, entry in RECORD["modules"].items():
        if not entry["complete"]:
            assert f"`{name}` (incomplete" in EXPLAINED, name


@pytest.mark.parametrize("module", COMPLETE)
def test_a_recorded_module_reaches_the_target(module):
    entry = RECORD["modules"][module]
    assert entry["killed"] + len(entry["survivors"]) == entry["total"]
    assert entry["score"] >= RECORD["target"], f"{module}: {entry['score']:.1%} < {RECORD['target']:.0%}"


@pytest.mark.parametrize("module", COMPLETE)
def test_every_mutant_not_killed_is_explained_in_docs_testing(module):
    unexplained = [survivor["mutant"] for survivor in RECORD["modules"][module]["survivors"]
                   if survivor["mutant"].removeprefix("govshare.") not in EXPLAINED]
    assert not unexplained, f"kill them with a test or say in docs/testing.md why each is equivalent: {unexplained}"


def test_a_fresh_checkout_keeps_the_record_and_retests_its_survivors(tmp_path, monkeypatch):
    """mutants/ is not committed: in a fresh checkout mutmut has no results to read. A complete record of the
    same source then stands as it is, and `--survivors` re-tests the survivors it names (a run once wiped the
    authz record to 0 of 0 this way)."""
    from bench import mutation

    source = Path("src/govshare/authz.py")
    (tmp_path / source).parent.mkdir(parents=True)
    (tmp_path / source).write_bytes((ROOT / source).read_bytes())
    monkeypatch.setattr(mutation, "ROOT", tmp_path)
    entry = {"complete": True, "source_sha256": mutation.source_hash(source), "total": 95, "killed": 94,
             "date": "2026-12-07", "survivors": [{"mutant": "govshare.authz.x_m__mutmut_1", "status": "survived"}]}
    assert mutation.not_killed(source, entry) == ["govshare.authz.x_m__mutmut_1"]
    assert mutation.score(source, entry)["killed"] == 94 and "date" not in mutation.score(source, entry)
    (tmp_path / source).write_text("# changed\n")  # another source: the record is void, nothing stands
    assert mutation.not_killed(source, entry) == [] and mutation.score(source, entry)["total"] == 0
