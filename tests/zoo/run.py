"""Run one variant through the real CLI and check its prediction file against the generator's answer."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
import numpy as np
import pandas as pd

from zoo.variant import Variant

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TIME_LIMIT = float(os.environ.get("ZOO_TIME_LIMIT", "60"))
PROB_AUC_BAR = 0.6  # a constant scores 0.5


def _python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def run_variant(v: Variant, workdir: Path, time_limit: float = DEFAULT_TIME_LIMIT, keep: bool = True) -> dict:
    """Write the variant's folder under workdir/data, run `mlwright run` into workdir/out, check the result."""
    workdir = Path(workdir)
    data, out = workdir / "data", workdir / "out"
    if data.exists():
        shutil.rmtree(data)
    if out.exists():
        shutil.rmtree(out)
    data.mkdir(parents=True)
    v.write(data)
    cmd = [_python(), "-m", "mlwright", "run", str(data), "--task", v.task, "--output", str(out),
           "--time-limit", f"{time_limit:g}", "--no-autogluon", "--llm", "none",
           # the zoo checks how a folder is read: further seeds would only fill each run's limit, and CatBoost's
           # ordered boosting takes half of a tabular variant's run (15 of 27 s on 240 rows)
           "--seeds", "0", "--exclude-recipes", "catboost_light"]
    env = {k: val for k, val in os.environ.items() if not k.startswith("MLWRIGHT_LLM")}
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=time_limit * 1.5 + 60, env=env, cwd=ROOT,
                           stdin=subprocess.DEVNULL)
        rc, stderr, stdout = p.returncode, p.stderr, p.stdout
    except subprocess.TimeoutExpired as e:
        rc, stderr, stdout = None, (e.stderr or b"").decode(errors="replace") if isinstance(e.stderr, bytes) else \
            (e.stderr or ""), ""
    seconds = time.time() - t0
    summary = _run_json(out)
    if rc is None:
        klass, detail = "timeout", f"no exit within {time_limit * 1.5 + 60:.0f} s"
    elif rc != 0 and ("Traceback" in (stderr or "") or "Error: " in (stderr or "")) and not summary.get("error"):
        klass, detail = "crash", f"exit code {rc}, uncaught exception: {_exception(stderr)}"
    elif rc != 0:
        klass, detail = "exit", f"exit code {rc}: {summary.get('error') or _last_line(stderr)}"
    else:
        klass, detail = check_output(v, out)
    task = summary.get("task") or {}
    result = {
        "name": v.name, "dims": v.dims, "ok": klass == "ok", "class": klass, "reason": detail,
        "seconds": round(seconds, 1), "rc": rc, "wall_seconds": summary.get("wall_seconds"),
        "status": summary.get("status"), "error": summary.get("error"),
        "task_text": v.task,
        "understood": {k: task.get(k) for k in ("problem_type", "target", "train_table", "test_table", "id_column",
                                                "output_columns", "prediction_file", "output_kind", "modality")},
        "notes": task.get("notes") or [],
        "stderr_tail": (stderr or "")[-2000:],
        "stdout_tail": (stdout or "")[-800:],
        "workdir": str(workdir),
    }
    if not keep and result["ok"]:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _run_json(out: Path) -> dict:
    try:
        return json.loads((out / "run.json").read_text())
    except (OSError, ValueError):
        return {}


def _last_line(s: str) -> str:
    lines = [ln for ln in (s or "").strip().splitlines() if ln.strip()]
    return " ".join(lines[-3:])[-400:] if lines else "(no stderr)"


def _exception(stderr: str) -> str:
    """The last `SomeError: message` line of a traceback (rich or plain)."""
    found = re.findall(r"^[\s│]*([A-Za-z_.]*(?:Error|Exception)\b: .*?)[\s│]*$", stderr or "", re.M)
    return found[-1][:400] if found else _last_line(stderr)


def failure_message(r: dict) -> str:
    u = r.get("understood") or {}
    notes = "\n    ".join(r.get("notes") or []) or "(none)"
    return (f"layout zoo variant {r['name']} [{r['class']}]: {r['reason']}\n"
            f"  dims: {r['dims']}\n  task text: {r['task_text']!r}\n"
            f"  run.json status={r.get('status')} error={r.get('error')!r}\n"
            f"  understood: {u}\n  task notes:\n    {notes}\n"
            f"  stderr tail:\n{r.get('stderr_tail', '')[-1500:]}\n  folder: {r.get('workdir')}")


# -- checks -----------------------------------------------------------------------------------------------------
def _s(x) -> str:
    return str(x).strip()


def _hint_ids(expected: list, got: list) -> str:
    """A short diagnosis of why the ids differ."""
    flat = [g[0] for g in got if len(g) == 1]
    if flat and len(flat) == len(got):
        nums = pd.to_numeric(pd.Series(flat), errors="coerce")
        if nums.notna().all():
            v = sorted(nums.astype(float))
            if v == [float(i) for i in range(len(v))]:
                return "; ids invented 0..n-1"
            if v == [float(i) for i in range(1, len(v) + 1)]:
                return "; ids invented 1..n"
    exp_flat = {e for k in expected for e in k}
    got_flat = {g for k in got for g in k}
    if {e.lstrip("0") for e in exp_flat} == {g.lstrip("0") for g in got_flat}:
        return "; leading zeros lost"
    if {re.sub(r"\.0$", "", g) for g in got_flat} == exp_flat:
        return "; ids written as floats (7.0)"
    if len(exp_flat & got_flat) < len(exp_flat) and any(re.match(r"\d{4}-\d\d-\d\d", g) for g in got_flat):
        return "; date keys rewritten (not the test file's strings)"
    return ""


def check_output(v: Variant, out: Path) -> tuple[str, str]:
    """('ok', summary) or (failure class, reason): no_file | columns | ids | order | values | quality."""
    path = out / v.prediction_file
    if not path.is_file():
        found = sorted(p.name for p in out.glob("*.csv")) if out.exists() else []
        return "no_file", f"{v.prediction_file} not written (csv files in the run folder: {found})"
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as e:  # noqa: BLE001
        return "no_file", f"{v.prediction_file} is not a readable csv: {e}"
    cols = [str(c) for c in df.columns]
    if cols != v.columns:
        how = "same columns, other order" if sorted(cols) == sorted(v.columns) else "different columns"
        return "columns", f"columns {cols} != expected {v.columns} ({how})"

    # ids
    if not v.id_columns:
        if len(df) != len(v.keys):
            return "ids", f"{len(df)} rows, expected {len(v.keys)} (one per test row)"
        got_keys = list(v.keys)
    else:
        got_keys = [tuple(_s(x) for x in row) for row in df[v.id_columns].itertuples(index=False)]
        expected = v.ids
        exp_list = list(expected) if v.ordered else sorted(expected)
        if v.ordered:
            if got_keys != exp_list:
                if Counter(got_keys) == Counter(exp_list):
                    return "order", (f"right ids in the wrong order (the template fixes it): first expected "
                                     f"{exp_list[:3]}, got {got_keys[:3]}")
                return "ids", _id_diff(exp_list, got_keys)
        elif Counter(got_keys) != Counter(exp_list):
            return "ids", _id_diff(exp_list, got_keys)

    # values and the quality bar
    if v.wide_columns:
        pred = {}
        for _, row in df.iterrows():
            t = _s(row[v.id_columns[0]])
            for s in v.wide_columns:
                pred[(t, s)] = row[s]
        vals = [pred.get(k) for k in v.keys]
    elif v.id_columns:
        pred = dict(zip(got_keys, df[v.value_column]))
        vals = [pred.get(k) for k in v.keys]
    else:
        vals = list(df[v.value_column])
    truth = v.truth
    if v.output in ("value", "probability") or v.problem_type in ("regression", "forecasting"):
        num = pd.to_numeric(pd.Series(vals, dtype=object), errors="coerce")
        if num.isna().any():
            bad = [x for x, n in zip(vals, num) if pd.isna(n)][:3]
            return "values", f"{int(num.isna().sum())} non-numeric predictions (e.g. {bad})"
        p = num.to_numpy(float)
        if v.output == "probability":
            if ((p < 0) | (p > 1)).any():
                return "values", f"probabilities outside [0, 1] (e.g. {p[(p < 0) | (p > 1)][:3].tolist()})"
            from sklearn.metrics import roc_auc_score

            yb = np.array([t == v.positive for t in truth])
            auc = float(roc_auc_score(yb, p))
            if auc <= PROB_AUC_BAR:
                return "quality", f"AUC {auc:.3f} <= {PROB_AUC_BAR} (a constant scores 0.5; wrong positive class?)"
            return "ok", f"AUC {auc:.3f}"
        y = np.asarray(truth, float)
        if v.problem_type == "forecasting":
            mae = float(np.mean(np.abs(p - y)))
            naive = float(np.mean(np.abs(np.array([v.train_means[k] for k in v.keys]) - y)))
            if mae >= naive:
                return "quality", f"MAE {mae:.2f} >= naive mean forecast's {naive:.2f}"
            return "ok", f"MAE {mae:.2f} (naive mean {naive:.2f})"
        rmse = float(np.sqrt(np.mean((p - y) ** 2)))
        sd = float(np.std(y))
        if rmse >= sd:
            ratio = float(np.median(np.abs(p)) / max(np.median(np.abs(y)), 1e-12))
            scale = "" if 0.2 < ratio < 5 else f"; predictions are {ratio:.3g}x the truth's scale (numbers misread?)"
            return "quality", f"RMSE {rmse:.1f} >= std {sd:.1f} of the truth{scale}"
        return "ok", f"RMSE {rmse:.1f} (std {sd:.1f})"
    # labels
    classes = {str(t).lower() for t in truth}  # case-insensitive: a boolean may come back as true/True
    got = [_s(x).lower() for x in vals]
    unknown = [g for g in got if g not in classes]
    if len(unknown) > len(got) // 2:
        return "values", f"predictions are not the class labels {sorted(classes)} (e.g. {unknown[:3]})"
    acc = float(np.mean([g == str(t).lower() for g, t in zip(got, truth)]))
    majority = float(pd.Series([str(t) for t in truth]).value_counts(normalize=True).iloc[0])
    if acc <= majority:
        return "quality", f"accuracy {acc:.3f} <= majority rate {majority:.3f}"
    return "ok", f"accuracy {acc:.3f} (majority {majority:.3f})"


def _id_diff(expected: list, got: list) -> str:
    e, g = Counter(expected), Counter(got)
    missing = list((e - g).elements())
    extra = list((g - e).elements())
    dups = [k for k, c in g.items() if c > 1]

    def show(ks):
        return [k[0] if len(k) == 1 else k for k in ks[:3]]

    parts = [f"{len(got)} rows, expected {len(expected)}"]
    if missing:
        parts.append(f"{len(missing)} expected ids missing (e.g. {show(missing)})")
    if extra:
        parts.append(f"{len(extra)} unexpected ids (e.g. {show(extra)})")
    if dups:
        parts.append(f"{len(dups)} duplicated")
    return "ids differ: " + ", ".join(parts) + _hint_ids(expected, got)

