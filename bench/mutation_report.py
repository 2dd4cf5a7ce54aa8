"""`make mutate`'s report: mutmut's verdicts per module, less the survivors explained in docs/mutation/.

mutmut (configured in pyproject.toml, run by scripts/mutate) leaves one `<module>.py.meta` per mutated module
under `mutants/` with each mutant's test exit code. Each module may have `docs/mutation/<dotted module>.toml`
listing the survivors no test can tell apart, with the reason:

    [equivalent]     # the program behaves identically (say why)
    [message_text]   # only the human-readable message of an error changed; the contract is code and field
    [race_only]      # reachable only by a concurrent request, or
    [postgresql_only] # only on PostgreSQL: NOT equivalent, counted as not killed, named with the PostgreSQL
                     # test that covers it (mutation runs are sequential, on SQLite)
    [not_killed]     # a real survivor, written down: counted as not killed and reported as a problem
    [needs_stripe], [ties_only], …  # any other table: not equivalent, unreachable here, counted as not killed

killed fraction = killed / (mutants − equivalent − message_text), timeouts counting as killed (the mutant
made the tests run away, which a test run notices). The report is written in ../shared/BENCH.md's shape to
bench/results/quality.mutation.json (and, with --commit, docs/benchmarks/quality.mutation.json) and printed
as a table. It exits 1 when a module is under the target, when a survivor is unexplained, or when an
explanation names a mutant that no longer exists or was killed (explanations must not go stale).

Mutants whose code runs only on PostgreSQL are re-run there (`scripts/mutate --postgresql`): their names are
the ones `--postgresql-candidates` prints (listed under [postgresql_only]/[race_only], or reached by no test on
SQLite), and that run leaves their names in mutants/postgresql-run.txt so the report can say which verdicts
came from PostgreSQL.

Usage: python bench/mutation_report.py [--commit] [--target 0.9] [--postgresql-candidates]
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import BenchContext

ROOT = Path(__file__).resolve().parent.parent
KILLED = {1, 3}
TIMEOUT = {-24, 24, 152, 255, 36}
SURVIVED = {0}
NO_TESTS = {5, 33}


def modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    return list(config["only_mutate"])


def dotted(path: str) -> str:
    """src/omnishop/orders/states.py -> orders.states"""
    return path.removeprefix("src/omnishop/").removesuffix(".py").replace("/", ".")


def explanations(module: str) -> dict[str, dict[str, str]]:
    path = ROOT / "docs" / "mutation" / f"{dotted(module)}.toml"
    if not path.exists():
        return {"equivalent": {}, "message_text": {}, "race_only": {}}
    data = tomllib.loads(path.read_text())
    told = {key: data.get(key, {}) for key in ("equivalent", "message_text")}
    # Every other table ([race_only], [postgresql_only], [needs_stripe], [ties_only], …) names survivors that
    # are NOT equivalent but that no test here can reach: counted as not killed, named with their reason.
    told["race_only"] = {
        name: reason
        for table, entries in data.items()
        if table not in ("equivalent", "message_text", "not_killed", "not_checked")
        and isinstance(entries, dict)
        for name, reason in entries.items()
    }
    return told


def postgresql_run() -> set[str]:
    path = ROOT / "mutants" / "postgresql-run.txt"
    return set(path.read_text().split()) if path.exists() else set()


def postgresql_candidates() -> list[str]:
    """Mutants worth a PostgreSQL run: explained as PostgreSQL-only or race-only, or reached by no test here."""
    names = []
    for module in modules():
        meta_path = ROOT / "mutants" / f"{module}.meta"
        if not meta_path.exists():
            continue
        verdicts = json.loads(meta_path.read_text())["exit_code_by_key"]
        race_only = explanations(module)["race_only"]
        names += [n for n, code in verdicts.items() if n in race_only or code in NO_TESTS]
    return sorted(names)


def case_for(module: str) -> tuple[dict, list[str]]:
    meta_path = ROOT / "mutants" / f"{module}.meta"
    if not meta_path.exists():
        return {"case": module, "unit": "killed fraction", "value": None, "notes": "not run"}, [
            f"{module}: no mutmut results (run scripts/mutate)"
        ]
    verdicts: dict[str, int | None] = json.loads(meta_path.read_text())["exit_code_by_key"]
    told = explanations(module)
    equivalent, message_text, race_only = told["equivalent"], told["message_text"], told["race_only"]
    problems = []
    killed = timeouts = 0
    survivors, unchecked, other = [], [], []
    for name, code in verdicts.items():
        if code in KILLED:
            killed += 1
        elif code in TIMEOUT:
            timeouts += 1
        elif code in SURVIVED or code in NO_TESTS:
            survivors.append(name)
        elif code is None:
            unchecked.append(name)
        else:
            other.append(name)  # suspicious, segfault…: counted as not killed
    for name in [*equivalent, *message_text, *race_only]:
        if name not in verdicts:
            problems.append(f"{module}: explained mutant {name} no longer exists")
        elif verdicts[name] in KILLED or verdicts[name] in TIMEOUT:
            problems.append(f"{module}: explained mutant {name} is no longer a survivor")
    explained = set(equivalent) | set(message_text)
    unexplained = [n for n in survivors + other if n not in explained | set(race_only)]
    total = len(verdicts)
    checked = {n for n in verdicts if n not in unchecked}
    counted = len(checked - explained)
    for name in unexplained:
        problems.append(f"{module}: survivor {name} is not killed and not explained")
    if unchecked:
        problems.append(f"{module}: {len(unchecked)} mutants were not checked (the run was cut short)")
    value = round((killed + timeouts) / counted, 4) if counted else None
    short = [n.rsplit(".", 1)[-1] for n in unexplained]
    on_postgresql = len(postgresql_run() & set(verdicts))
    notes = (
        f"{killed} killed + {timeouts} timeouts of {total} mutants; {len(equivalent)} equivalent and "
        f"{len(message_text)} message-text-only excluded (docs/mutation/{dotted(module)}.toml); "
        + (
            f"{len(race_only)} not equivalent but out of reach here (concurrent requests, PostgreSQL only, a real Stripe, same-instant ties) counted as survivors; "
            if race_only
            else ""
        )
        + (
            f"{len(unchecked)} NOT CHECKED (run cut short; value over the checked ones); "
            if unchecked
            else ""
        )
        + (f"unexplained survivors: {', '.join(short)}" if short else "no unexplained survivors")
        + ". mutmut on SQLite, one deterministic run (each mutant against the tests that reach its function)"
        + (
            f"; {on_postgresql} mutants reached only on PostgreSQL (or by no SQLite test) re-run on PostgreSQL 15."
            if on_postgresql
            else "."
        )
    )
    case = {
        "case": module,
        "unit": "killed fraction",
        "value": value,
        "mutants": total,
        "killed": killed,
        "timeouts": timeouts,
        "equivalent": len(equivalent),
        "message_text": len(message_text),
        "race_only": len(race_only),
        "not_checked": len(unchecked),
        "run_on_postgresql": on_postgresql,
        "survived_unexplained": len(unexplained),
        "notes": notes,
    }
    return case, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--commit", action="store_true", help="also write docs/benchmarks/quality.mutation.json"
    )
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument(
        "--postgresql-candidates", action="store_true", help="print the mutants to re-run on PostgreSQL"
    )
    args = parser.parse_args()
    if args.postgresql_candidates:
        print("\n".join(postgresql_candidates()))
        return 0
    cases, problems = [], []
    for module in modules():
        case, found = case_for(module)
        cases.append(case)
        problems += found
        if case["value"] is not None and case["value"] < args.target:
            problems.append(f"{module}: {case['value']:.3f} killed, under the {args.target} target")
    path = BenchContext(
        database_version="sqlite (mutmut workers)" + (" + postgresql 15" if postgresql_run() else "")
    ).report("quality.mutation", cases)
    if args.commit:
        doc = json.loads(path.read_text())
        (ROOT / "docs" / "benchmarks" / "quality.mutation.json").write_text(json.dumps(doc, indent=2) + "\n")
    for problem in problems:
        print(f"- {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
