#!/usr/bin/env python
"""Run the layout zoo (issue #9) through the real CLI and print variant | ok | reason, the pass rate and the
failures grouped by class; the full results (stderr tails, run.json errors, task notes) go to a JSON file.

    .venv/bin/python scripts/zoo_report.py -j 2
    .venv/bin/python scripts/zoo_report.py --only 'ts_*' --json /tmp/zoo.json
    .venv/bin/python scripts/zoo_report.py --list
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from zoo import all_variants, run_variant, summary  # noqa: E402
from zoo.run import DEFAULT_TIME_LIMIT  # noqa: E402


def _matches(name: str, patterns: list[str]) -> bool:
    """A glob on the whole name (`ts_*`, `fmt_csv`), or a regex after `re:` (`re:json|sqlite`)."""
    return any(re.search(p[3:], name) if p.startswith("re:") else fnmatch.fnmatch(name, p) for p in patterns)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", default=[], help="glob on variant names, or re:REGEX (repeatable)")
    ap.add_argument("--skip", action="append", default=[], help="glob or regex of variants to leave out")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="variants run at once (default 2)")
    ap.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT, help="--time-limit of each run")
    ap.add_argument("--json", default="zoo_results.json", help="where to write the results (default "
                                                               "./zoo_results.json)")
    ap.add_argument("--workdir", default=None, help="keep each variant's data and run folder here "
                                                    "(default: a temporary folder, kept for failures)")
    ap.add_argument("--list", action="store_true", help="list the variants and the counts per dimension, run nothing")
    args = ap.parse_args(argv)

    variants = all_variants()
    if args.only:
        variants = [v for v in variants if _matches(v.name, args.only)]
    if args.skip:
        variants = [v for v in variants if not _matches(v.name, args.skip)]
    if args.list:
        for v in variants:
            print(f"{v.name:45s} {v.dims}")
        for dim, counts in summary(variants).items():
            print(f"{dim}: {sum(counts.values())} variants, {len(counts)} values")
        print(f"{len(variants)} variants")
        return 0
    if not variants:
        print("no variant matches", file=sys.stderr)
        return 2
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="zoo-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    results = []
    with ThreadPoolExecutor(max(1, args.jobs)) as ex:
        futs = {ex.submit(run_variant, v, work / v.name, args.time_limit, keep=bool(args.workdir)): v
                for v in variants}
        for i, f in enumerate(as_completed(futs), 1):
            v = futs[f]
            try:
                r = f.result()
            except Exception as e:  # noqa: BLE001 - a broken variant writer is reported, not fatal
                r = {"name": v.name, "dims": v.dims, "ok": False, "class": "zoo_error",
                     "reason": f"{type(e).__name__}: {e}", "seconds": 0}
            results.append(r)
            print(f"[{i}/{len(variants)}] {r['name']}: {'ok' if r['ok'] else 'FAIL'} ({r['seconds']} s) "
                  f"{'' if r['ok'] else ' '.join(r['reason'].split())[:140]}", file=sys.stderr, flush=True)
    wall = time.time() - t0
    order = {v.name: i for i, v in enumerate(variants)}
    results.sort(key=lambda r: order[r["name"]])

    w = max(len(r["name"]) for r in results)
    print(f"{'variant':{w}s} | ok   | reason")
    print("-" * (w + 2) + "|------|" + "-" * 60)
    for r in results:
        reason = " ".join(r["reason"].split())
        print(f"{r['name']:{w}s} | {'yes ' if r['ok'] else 'NO  '} | {reason[:220]}")
    n_ok = sum(r["ok"] for r in results)
    print(f"\npass rate: {n_ok}/{len(results)} ({100 * n_ok / len(results):.0f}%) in {wall:.0f} s wall "
          f"(-j {args.jobs}, --time-limit {args.time_limit:g}; mean run "
          f"{sum(r['seconds'] for r in results) / len(results):.1f} s)")
    by_class = defaultdict(list)
    for r in results:
        if not r["ok"]:
            by_class[r["class"]].append(r)
    for klass, rs in sorted(by_class.items(), key=lambda kv: -len(kv[1])):
        print(f"\n{klass}: {len(rs)}")
        for r in rs:
            print(f"  {r['name']}: {' '.join(r['reason'].split())[:300]}")
    out = Path(args.json)
    out.write_text(json.dumps({"wall_seconds": round(wall, 1), "jobs": args.jobs, "time_limit": args.time_limit,
                               "passed": n_ok, "total": len(results), "workdir": str(work), "results": results},
                              indent=1, default=str))
    print(f"\nresults: {out}   run folders: {work}", file=sys.stderr)
    if not args.workdir:  # keep the failures' folders only
        import shutil

        for r in results:
            if r["ok"]:
                shutil.rmtree(work / r["name"], ignore_errors=True)
    return 0 if n_ok == len(results) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
