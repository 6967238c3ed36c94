"""The suite says what it did not run (a green run that skipped the PostgreSQL half or the browser must say
so), and in CI what cannot run is a failure, not a skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _pytest(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "GOVSHARE_TEST_DATABASE_URL")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          env={**clean, **env}, capture_output=True, text=True, timeout=300)


def test_a_run_without_postgresql_says_how_many_database_tests_ran_on_sqlite_only():
    run = _pytest("-q", "-n", "0", "tests/test_errors.py", "-k", "405")
    assert run.returncode == 0, run.stdout[-2000:]
    assert "Not run: PostgreSQL: 2 database test instances ran on SQLite only (GOVSHARE_TEST_DATABASE_URL is " \
           "unset)" in run.stdout, run.stdout[-2000:]


def test_skips_are_named_with_their_reason():
    run = _pytest("-q", "-n", "0", "tests/test_notify.py", "-k", "claims_skip_rows_another_worker_holds")
    assert run.returncode == 0, run.stdout[-2000:]
    assert "1 × SQLite serializes writers instead" in run.stdout, run.stdout[-2000:]  # a per-dialect skip


def test_in_ci_a_missing_postgresql_stops_the_run_instead_of_skipping_it():
    run = _pytest("-q", "-n", "0", "--collect-only", "tests/test_errors.py", CI="true")
    assert run.returncode == 4  # pytest's usage error: nothing ran
    assert "CI=true, and GOVSHARE_TEST_DATABASE_URL is unset" in run.stdout + run.stderr


def test_in_ci_an_unreachable_postgresql_stops_the_run():
    run = _pytest("-q", "-n", "0", "--collect-only", "tests/test_errors.py", CI="true",
                  GOVSHARE_TEST_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert run.returncode == 4
    assert "PostgreSQL does not answer at" in run.stdout + run.stderr


def test_browser_tests_run_on_sqlite_only_and_every_other_database_test_on_both():
    """A browser test's PostgreSQL instance is left out (its pages run on both databases through the test client);
    a test of the same file that is not a browser test keeps both instances."""
    run = _pytest("--collect-only", "-q", "-n", "0", "tests/test_browser.py", "tests/test_docs_offline.py",
                  GOVSHARE_TEST_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")
    collected = [line for line in run.stdout.splitlines() if "::" in line]
    browser = [line for line in collected if "test_browser.py" in line or "in_a_browser_that" in line]
    assert browser and all(line.endswith("[sqlite]") for line in browser), browser
    assert {"[sqlite]", "[postgresql]"} <= {line[line.index("["):] for line in collected
                                            if "test_docs_page_loads_its_assets" in line}, collected
    assert "deselected" in run.stdout
