#!/usr/bin/env python
"""mlwright side by side with an expert's hand-written AutoGluon script (scripts/expert_autogluon.py) on the same
tasks, machine and budget, one after the other (never at once: they would share the cores). Tasks are folders in
the benchmark's layout (data/, description.md, answer/) and both prediction files are scored by the benchmark's
own scorer. The expert script reads the tables mlwright prepared for the task (see its docstring); tasks that are
not plain tables (images, text-only, forecasts, ranking...) are left out.

    .venv/bin/python scripts/compare_autogluon.py --bench ../shared/bench --only penguins-species,ames-price
    .venv/bin/python scripts/compare_autogluon.py --bench ../shared/bench --json /tmp/compare.json -- --no-autogluon
Arguments after `--` go to `mlwright run`.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABULAR = {"binary", "multiclass", "regression"}


def run_timed(cmd: list[str], cwd: Path, timeout: float, log: Path) -> tuple[float, int | None]:
    t0 = time.time()
    with log.open("w") as fh:
        try:
            rc: int | None = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT,
                                            timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = None
    return time.time() - t0, rc


def compare_task(task: Path, score, time_limit: float | None, extra: list[str], keep: Path) -> dict:
    meta = json.loads((task / "answer" / "meta.json").read_text())
    limit = float(time_limit or meta.get("time_limit", 300))
    row: dict = {"task": task.name, "time_limit": limit}
    tmp = Path(tempfile.mkdtemp(prefix=f"compare_{task.name}_"))
    try:
        shutil.copytree(task / "data", tmp / "data")
        run = tmp / "run"
        wall, rc = run_timed([sys.executable, "-m", "mlwright", "run", str(tmp / "data"), "--task-file",
                              str(task / "description.md"), "--output", str(run), "--time-limit", str(limit), *extra],
                             tmp, 1.5 * limit + 60, keep / f"{task.name}.mlwright.log")
        pred = run / meta["prediction_file"]
        res = score(str(task), str(pred) if pred.exists() else None)
        row.update(mlwright=res["normalized"] if res["valid"] else 0.0, mlwright_wall=round(wall, 1),
                   mlwright_error=res["error"], ratio=round(wall / limit, 3))
        if (run / "journal.sqlite").exists():  # kept for a look at where the time went
            shutil.copy(run / "journal.sqlite", keep / f"{task.name}.journal.sqlite")
        summary = json.loads((run / "run.json").read_text()) if (run / "run.json").exists() else {}
        row["ended_early"] = summary.get("ended_early")
        row["best_recipe"] = (summary.get("best") or {}).get("recipe")
        spec = summary.get("task") or {}
        if spec.get("problem_type") not in TABULAR or spec.get("modality") not in ("tabular", "multitable") or \
                spec.get("multilabel") or spec.get("multioutput"):
            row["autogluon"] = None
            row["note"] = f"not a plain table ({spec.get('modality')}, {spec.get('problem_type')}): no expert script"
            return row
        out = tmp / "expert.csv"
        wall, rc = run_timed([sys.executable, str(ROOT / "scripts" / "expert_autogluon.py"), str(run), str(out),
                              "--time-limit", str(limit), "--model", str(tmp / "expert_model")],
                             tmp, 1.5 * limit + 60, keep / f"{task.name}.expert.log")
        res = score(str(task), str(out) if out.exists() else None)
        row.update(autogluon=res["normalized"] if res["valid"] else 0.0, autogluon_wall=round(wall, 1),
                   autogluon_error=res["error"] or (None if rc == 0 else f"exit {rc}"))
        return row
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", type=Path, required=True, help="the benchmark folder (score.py, tasks/)")
    ap.add_argument("--only", default="", help="comma-separated task names")
    ap.add_argument("--time-limit", type=float, default=None, help="instead of each task's own")
    ap.add_argument("--json", type=Path, default=None, help="write the rows here")
    ap.add_argument("--logs", type=Path, default=Path(tempfile.gettempdir()) / "compare_autogluon_logs")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(a.bench.resolve()))
    from score import score  # the benchmark's scorer

    tasks = sorted(p for p in (a.bench / "tasks").iterdir() if (p / "answer" / "meta.json").exists())
    only = [t for t in a.only.split(",") if t]
    tasks = [t for t in tasks if not only or t.name in only]
    a.logs.mkdir(parents=True, exist_ok=True)
    rows = []
    for t in tasks:
        rows.append(compare_task(t, score, a.time_limit, extra, a.logs))
        if a.json:
            a.json.write_text(json.dumps(rows, indent=1))

    def f(v) -> str:
        return "-" if v is None else f"{v:.4f}"

    print("| task | mlwright | wall s (x limit) | expert AutoGluon | wall s | difference |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        diff = None if r.get("autogluon") is None else r["mlwright"] - r["autogluon"]
        print(f"| {r['task']} | {f(r['mlwright'])} | {r['mlwright_wall']:.0f} ({r['ratio']:.2f}) | "
              f"{f(r.get('autogluon'))} | {r.get('autogluon_wall', '-')} | {f(diff)} |")
    both = [r for r in rows if r.get("autogluon") is not None]
    if both:
        print(f"mean over {len(both)} tabular tasks: mlwright {sum(r['mlwright'] for r in both) / len(both):.4f}, "
              f"expert AutoGluon {sum(r['autogluon'] for r in both) / len(both):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
