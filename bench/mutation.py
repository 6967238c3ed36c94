"""`make mutation` (`python -m bench.mutation`): mutation testing of the modules where a rule lives (mutmut).

mutmut copies the project into `mutants/`, changes the code of the modules named by `[tool.mutmut] only_mutate`
in pyproject.toml one small change at a time (a `<` for a `<=`, a `True` for a `False`, a dropped argument …)
and runs the tests that reach the changed function against each change: a test that fails kills the mutant, a
mutant no test notices survives. This script runs mutmut for the chosen modules (every mutant of them is
tested again) and then reads mutmut's results (`mutants/**/*.py.meta`) into `bench/results/mutation.json`:
per module killed / total, the survivors with their diff, the timeouts, the time its mutants took, the date
and mutmut's version. Modules not run keep their last entry.

    python -m bench.mutation                         # every module (hours on two cores)
    python -m bench.mutation --modules authz,gateway.masking
    python -m bench.mutation --modules authz --survivors   # test again only what was not killed
    python -m bench.mutation --report                # only read the results of earlier runs

Mutation runs stay on SQLite: GOVSHARE_TEST_DATABASE_URL is removed from mutmut's environment, unless
`--database-url` names a PostgreSQL server for code that only PostgreSQL runs (every test then runs on both):

    python -m bench.mutation --modules audit.chain --survivors --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

See docs/testing.md for the scores and the survivors that are equivalent."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "mutation.json"
TARGET = 0.85
# mutmut's exit codes of a tested mutant (mutmut.stats.status_by_exit_code), by what they mean here
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no_tests", 33: "no_tests", 34: "skipped",
          36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout",
          -11: "segfault", -9: "segfault", 37: "type_check", None: "not_checked"}
COUNTED = ("killed", "survived", "timeout", "no_tests", "suspicious", "segfault", "skipped", "not_checked")


def modules() -> dict[str, Path]:
    """Short name (`authz`, `sharing.service`, …) → source path, from pyproject's `[tool.mutmut] only_mutate`."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]
    return {path.removeprefix("src/govshare/").removesuffix(".py").replace("/", "."): Path(path)
            for path in config["only_mutate"]}


def prefix(path: Path) -> str:
    """The module prefix of its mutants' names: src/govshare/authz.py → govshare.authz."""
    return ".".join(path.relative_to("src").with_suffix("").parts) + "."


def load_meta(path: Path) -> dict:
    meta = ROOT / "mutants" / f"{path}.meta"
    if not meta.exists():
        return {"exit_code_by_key": {}, "durations_by_key": {}}
    return json.loads(meta.read_text(encoding="utf-8"))


def status(exit_code: int | None) -> str:
    return STATUS.get(exit_code, "suspicious")


def diff_of(name: str, path: Path) -> str:
    """The mutant's change as a unified diff of its function (`mutmut show NAME`), or "" if it cannot be read."""
    try:
        from mutmut.mutation.diff_apply import get_diff_for_mutant

        lines = get_diff_for_mutant(name, path=path).splitlines()
    except Exception as error:  # an index mutmut cannot read back leaves the name, which `mutmut show` takes
        return f"({type(error).__name__}: {error})"
    return "\n".join(line for line in lines if line.startswith(("-", "+")) and not line.startswith(("---", "+++")))


def source_hash(path: Path) -> str:
    return hashlib.sha256((ROOT / path).read_bytes()).hexdigest()


def last_codes(path: Path, entry: dict | None) -> dict[str, int | None]:
    """Each mutant's exit code: this run's, else what the last complete record of the same source says.

    mutmut forgets the results of every module it was not asked to test (and of the mutants not named by a
    `--survivors` run), so a mutant not checked now keeps its recorded verdict: a recorded survivor its status,
    any other mutant of a complete record was killed. A changed source makes the record void."""
    codes = dict(load_meta(path)["exit_code_by_key"])
    if not entry or not entry.get("complete") or entry.get("source_sha256") != source_hash(path):
        return codes
    recorded = {survivor["mutant"]: survivor["status"] for survivor in entry["survivors"]}
    code_of = {name: code for code, name in reversed(STATUS.items())} | {"suspicious": -1}  # one code per status
    for key, code in codes.items():
        if code is None:
            codes[key] = code_of[recorded[key]] if key in recorded else code_of["killed"]
    return codes


def _record_stands(path: Path, entry: dict | None) -> bool:
    """A complete record of this very source, and no mutmut results here to read (a fresh checkout: mutants/ is
    not committed): the record is the verdict."""
    return bool(entry and entry.get("complete") and entry.get("source_sha256") == source_hash(path)
                and not load_meta(path)["exit_code_by_key"])


def score(path: Path, entry: dict | None) -> dict:
    if _record_stands(path, entry):
        return {key: value for key, value in entry.items() if key not in ("date", "mutmut_version", "max_children")}
    codes = last_codes(path, entry)
    counts = dict.fromkeys(COUNTED, 0)
    for code in codes.values():
        key = status(code)
        counts[key] = counts.get(key, 0) + 1
    total = len(codes)
    complete = bool(total) and not counts["not_checked"]
    not_killed = sorted((key for key, code in codes.items() if status(code) not in ("killed", "not_checked")),
                        key=_natural)
    return {
        "path": str(path),
        "source_sha256": source_hash(path),
        "total": total,
        **counts,
        # an interrupted run leaves mutants not checked: its score counts them as not killed, and it is no verdict
        "complete": complete,
        "score": round(counts["killed"] / total, 4) if total else None,
        "meets_target": complete and counts["killed"] / total >= TARGET,
        "mutant_seconds": round(sum(load_meta(path).get("durations_by_key", {}).values()), 1),
        "survivors": [{"mutant": key, "status": status(codes[key]), "diff": diff_of(key, path)} for key in not_killed],
    }


def _natural(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("__mutmut_")
    return stem, int(number) if number.isdigit() else 0


def sync_data_files() -> None:
    """mutmut copies the package's other files (templates, migrations, data) into mutants/ only once, and copies
    the .py files and tests on every run: refresh the copies that changed, so the tests never meet old templates."""
    for source in (ROOT / "src").rglob("*"):
        copy = ROOT / "mutants" / source.relative_to(ROOT)
        if source.is_file() and source.suffix != ".py" and "__pycache__" not in source.parts and copy.exists() \
                and source.read_bytes() != copy.read_bytes():
            shutil.copy2(source, copy)


def run_mutmut(names: list[str], max_children: int, database_url: str) -> float:
    env = {key: value for key, value in os.environ.items() if key != "GOVSHARE_TEST_DATABASE_URL"}
    if database_url:
        env["GOVSHARE_TEST_DATABASE_URL"] = database_url
    command = [str(Path(sys.executable).with_name("mutmut")), "run", "--max-children", str(max_children), *names]
    sync_data_files()
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return time.monotonic() - started


def recorded() -> dict:
    return json.loads(RESULTS.read_text(encoding="utf-8")).get("modules", {}) if RESULTS.exists() else {}


def not_killed(path: Path, entry: dict | None) -> list[str]:
    if _record_stands(path, entry):
        return [survivor["mutant"] for survivor in entry["survivors"]]
    return [key for key, code in last_codes(path, entry).items() if status(code) != "killed"]


def write(results: dict, chosen: list[str], run_seconds: float | None, max_children: int | None) -> dict:
    """Updates the chosen modules' entries; a report (no run) keeps the date and version of the run it reads."""
    previous = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}
    entries = recorded()
    today = datetime.now(UTC).astimezone().isoformat(timespec="seconds")
    ran = {"date": today, "mutmut_version": version("mutmut"), "max_children": max_children}
    for name in chosen:
        kept = {key: entries.get(name, {}).get(key, value) for key, value in ran.items()}
        entries[name] = {**(ran if run_seconds is not None else kept), **results[name]}
    document = {
        "tool": "mutmut",
        "target": TARGET,
        "score": "killed / total of each module; survivors lists every mutant checked and not killed (survived, "
             "timeout, …); a module not complete was interrupted and has mutants not checked",
        "cpus": os.cpu_count(),
        "last_run": ({"date": today, "modules": chosen, "seconds": round(run_seconds, 1)} if run_seconds is not None
                     else previous.get("last_run")),
        "modules": {name: entries[name] for name in modules() if name in entries},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return document


def print_table(document: dict) -> None:
    print(f"{'module':<18} {'killed':>7} {'total':>6} {'score':>7} {'survived':>9} {'timeout':>8} {'other':>6} "
          f"{'seconds':>8}  date")
    for name, entry in document["modules"].items():
        other = entry["total"] - entry["killed"] - entry["survived"] - entry["timeout"]
        mark = "" if entry["meets_target"] else "  < target" if entry.get("complete", True) else \
            f"  incomplete: {entry['not_checked']} not checked"
        shown = f"{entry['score']:.1%}" if entry["score"] is not None else "-"
        print(f"{name:<18} {entry['killed']:>7} {entry['total']:>6} {shown:>7} {entry['survived']:>9} "
              f"{entry['timeout']:>8} {other:>6} {entry['mutant_seconds']:>8.0f}  {entry['date'][:10]}{mark}")
    print(f"written to {RESULTS.relative_to(ROOT)}")


def main() -> None:
    known = modules()
    parser = argparse.ArgumentParser(description="mutation testing of the modules where a rule lives (mutmut)")
    parser.add_argument("--modules", default="", help=f"comma- or space-separated subset of: {', '.join(known)}")
    parser.add_argument("--max-children", type=int, default=1,
                        help="mutants tested at once (default 1: the machine is shared)")
    parser.add_argument("--survivors", action="store_true",
                        help="test again only the mutants of the chosen modules that were not killed last time")
    parser.add_argument("--report", action="store_true", help="do not run mutmut; only read its last results")
    parser.add_argument("--database-url", default="",
                        help="also run every test on this PostgreSQL server (for code only PostgreSQL runs)")
    args = parser.parse_args()
    chosen = [name for name in args.modules.replace(",", " ").split() if name] or list(known)
    unknown = [name for name in chosen if name not in known]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    os.chdir(ROOT)  # mutmut's files (mutants/, pyproject.toml) are read relative to the project
    run_seconds = None
    if not args.report:
        if args.survivors:
            names = [key for name in chosen for key in not_killed(known[name], recorded().get(name))]
            if not names:
                print("no surviving mutants to test again")
        else:
            names = [prefix(known[name]) + "*" for name in chosen]
        if names:
            run_seconds = run_mutmut(names, args.max_children, args.database_url)
    results = {name: score(known[name], recorded().get(name)) for name in chosen}
    print_table(write(results, chosen, run_seconds, None if args.report else args.max_children))


if __name__ == "__main__":
    main()
