#!/usr/bin/env python
"""Backtest harness for mlwright's forecasting: builds forecasting tasks (rolling-origin cuts of a real long-format
series file, plus deterministic synthetic panels), runs `mlwright run` on each through the CLI, and scores every
predictions.csv against the hidden truth with MASE, next to the seasonal-naive forecast's MASE as a reference.

    python scripts/forecast_backtest.py --series /work/shared/bench/tasks/txhousing-forecast/data/train.csv \\
        [--cutoffs 3] [--horizon 12] [--time-limit 120] [--python .venv/bin/python] [--pythonpath /other/src] \\
        [--only quarterly,daily-weekly] [--work DIR] [--json rows.json] [--list]

Task folders (train.csv, test.csv) and run folders go under --work (default: a temp dir, removed at the end).
--pythonpath is prepended to PYTHONPATH of the runs, to measure another source tree with the same interpreter.
Only numpy, pandas and the standard library are used."""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pandas as pd

FREQS: dict[str, tuple[str, str, int]] = {"MS": ("month", "MS", 12), "QS": ("quarter", "QS", 4),
                                          "D": ("day", "D", 7), "W": ("week", "W", 52)}
TASK_TEXT = ("Forecast target for the next {h} {unit}s of every item_id listed in test.csv. "
             "Write predictions.csv with columns item_id,timestamp,target. Metric: MASE (seasonal period {m}).")


@dataclass
class Task:
    name: str
    train: pd.DataFrame  # item_id, timestamp, target
    truth: pd.DataFrame  # item_id, timestamp, target (test.csv is its first two columns)
    horizon: int
    unit: str
    season: int

    @property
    def text(self) -> str:
        return TASK_TEXT.format(h=self.horizon, unit=self.unit, m=self.season)


@dataclass
class Row:
    task: str
    n_series: int
    H: int
    mase: float = math.nan
    snaive_mase: float = math.nan
    ratio: float = math.nan
    wall_s: float = math.nan
    error: Optional[str] = None


# ---- tasks from a real series file ---------------------------------------------------------------------------

def infer_freq(df: pd.DataFrame) -> tuple[str, int]:
    """(unit, season) from the median spacing of the timestamps of the first series."""
    first = df[df["item_id"] == df["item_id"].iloc[0]]
    days = float(pd.to_datetime(first["timestamp"]).diff().dt.days.median())
    for limit, key in ((1.5, "D"), (8, "W"), (32, "MS"), (93, "QS")):
        if days <= limit:
            return FREQS[key][0], FREQS[key][2]
    return "year", 1


def backtest_tasks(path: Path, cutoffs: int, horizon: int) -> list[Task]:
    """Cut j drops the last j*H rows of each series; the next H rows after the new end are the truth."""
    df = pd.read_csv(path, dtype={"item_id": str})[["item_id", "timestamp", "target"]]
    df = df.assign(_t=pd.to_datetime(df["timestamp"])).sort_values(["item_id", "_t"]).drop(columns="_t")
    unit, season = infer_freq(df)
    tasks = []
    for j in range(1, cutoffs + 1):
        trains, truths = [], []
        for _, g in df.groupby("item_id", sort=False):
            end = len(g) - j * horizon
            if end < 3:
                continue
            trains.append(g.iloc[:end])
            truths.append(g.iloc[end:end + horizon])
        tasks.append(Task(f"{path.stem}-cut{j}", pd.concat(trains), pd.concat(truths), horizon, unit, season))
    return tasks


# ---- synthetic panels ----------------------------------------------------------------------------------------

def start_date(rng: np.random.Generator, freq: str) -> pd.Timestamp:
    year = int(rng.integers(1990, 2016))
    if freq == "D":
        return pd.Timestamp(year, 1, 1) + pd.Timedelta(days=int(rng.integers(0, 365)))
    if freq == "QS":
        return pd.Timestamp(year, int(rng.choice([1, 4, 7, 10])), 1)
    return pd.Timestamp(year, int(rng.integers(1, 13)), 1)


def monthly_mult(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n)
    cp = int(rng.integers(n // 4, 3 * n // 4))
    s1, s2 = rng.uniform(-0.01, 0.015, 2)
    log_trend = np.where(t < cp, s1 * t, s1 * cp + s2 * (t - cp))
    phase = rng.uniform(0, 12)
    season = 1 + rng.uniform(0.1, 0.4) * np.sin(2 * np.pi * (t + phase) / 12) \
        + rng.uniform(0, 0.1) * np.cos(4 * np.pi * (t + phase) / 12)
    noise = np.exp(rng.normal(0, rng.uniform(0.05, 0.15), n))
    return rng.uniform(50, 500) * np.exp(log_trend) * season * noise


def quarterly(rng: np.random.Generator, n: int) -> np.ndarray:
    scale = rng.uniform(5, 50)
    effects = rng.normal(0, scale, 4)
    effects -= effects.mean()
    level = rng.uniform(100, 1000) + np.cumsum(rng.normal(rng.uniform(-0.2, 0.5) * scale / 5, scale / 4, n))
    return level + effects[(np.arange(n) + int(rng.integers(0, 4))) % 4] + rng.normal(0, scale / 4, n)


def daily_weekly(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n)
    level = rng.uniform(50, 300)
    weekly = rng.normal(0, 0.15 * level, 7)
    weekly -= weekly.mean()
    annual = rng.uniform(0.05, 0.3) * level * np.sin(2 * np.pi * (t + rng.uniform(0, 365)) / 365.25)
    return level + weekly[(t + int(rng.integers(0, 7))) % 7] + annual + rng.normal(0, rng.uniform(0.03, 0.1) * level, n)


def monthly_noisy(rng: np.random.Generator, n: int) -> np.ndarray:
    t = np.arange(n)
    base = rng.uniform(20, 400)
    level = np.full(n, base)
    for cp in rng.integers(6, n - 6, int(rng.integers(0, 3))):
        level[cp:] *= 1 + rng.choice([-1, 1]) * rng.uniform(0.2, 0.5)
    season = rng.uniform(0, 0.08) * base * np.sin(2 * np.pi * (t + rng.uniform(0, 12)) / 12)
    y = level + season + rng.normal(0, rng.uniform(0.2, 0.4) * base, n)
    return np.maximum(y, 0.0)


Generator = Callable[[np.random.Generator, int], np.ndarray]
# name: (generator, seed, n_series, (min, max) length, freq, horizon)
SYNTHETIC: dict[str, tuple[Generator, int, int, tuple[int, int], str, int]] = {
    "monthly-mult": (monthly_mult, 101, 30, (60, 150), "MS", 12),
    "quarterly": (quarterly, 202, 25, (40, 80), "QS", 8),
    "daily-weekly": (daily_weekly, 303, 20, (200, 400), "D", 14),
    "monthly-noisy": (monthly_noisy, 404, 40, (48, 120), "MS", 12),
}


def synthetic_task(name: str) -> Task:
    gen, seed, n_series, (lo, hi), freq, horizon = SYNTHETIC[name]
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_series):
        n = int(rng.integers(lo, hi + 1))
        y = np.round(gen(rng, n), 3)
        ts = pd.date_range(start_date(rng, freq), periods=n, freq=freq).strftime("%Y-%m-%d")
        frames.append(pd.DataFrame({"item_id": f"s{i:03d}", "timestamp": ts, "target": y}))
    df = pd.concat(frames, ignore_index=True)
    pos = df.groupby("item_id").cumcount(ascending=False)  # 0 = the last row of a series
    unit, _, season = FREQS[freq]
    return Task(name, df[pos >= horizon], df[pos < horizon], horizon, unit, season)


# ---- running and scoring -------------------------------------------------------------------------------------

def write_task(task: Task, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    task.train.to_csv(folder / "train.csv", index=False)
    task.truth[["item_id", "timestamp"]].to_csv(folder / "test.csv", index=False)


def run_mlwright(task: Task, data: Path, out: Path, args: argparse.Namespace) -> float:
    """Runs the CLI (log in out.log); returns the wall seconds (run.json's if present, else measured)."""
    if out.exists():
        shutil.rmtree(out)
    env = dict(os.environ)
    if args.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (args.pythonpath, env.get("PYTHONPATH")) if p)
    cmd = [args.python, "-m", "mlwright", "run", str(data), "--task", task.text, "--output", str(out),
           "--time-limit", str(args.time_limit)]
    t0 = time.time()
    with open(out.with_suffix(".log"), "w") as log:
        try:
            subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=2 * args.time_limit + 300)
        except subprocess.TimeoutExpired:
            log.write("\n[forecast_backtest] timed out\n")
    wall = time.time() - t0
    try:
        return float(json.loads((out / "run.json").read_text())["wall_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return wall


def mase_scale(y: np.ndarray, m: int) -> float:
    lag = m if len(y) > m else 1
    scale = float(np.mean(np.abs(y[lag:] - y[:-lag]))) if len(y) > lag else 0.0
    if scale > 1e-8:
        return scale
    mean_abs = float(np.mean(np.abs(y))) if len(y) else 0.0
    return mean_abs if mean_abs > 1e-8 else 1.0


def snaive(y: np.ndarray, h: int, m: int) -> np.ndarray:
    if len(y) < m:
        return np.full(h, y[-1])
    return y[len(y) - m + np.arange(h) % m]


def with_key(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(item_id=df["item_id"].astype(str), _t=pd.to_datetime(df["timestamp"]))


def series_errors(task: Task, forecast: Callable[[str, np.ndarray, int], np.ndarray]) -> float:
    """Mean over series of MAE(truth, forecast(item, train values, h)) / the series' in-sample seasonal-naive MAE."""
    train = task.train.assign(item_id=task.train["item_id"].astype(str))
    values = {item: g["target"].to_numpy(float) for item, g in train.groupby("item_id", sort=False)}
    errs = []
    for item, g in task.truth.assign(item_id=task.truth["item_id"].astype(str)).groupby("item_id", sort=False):
        y, actual = values[item], g["target"].to_numpy(float)
        errs.append(np.mean(np.abs(actual - forecast(item, y, len(actual)))) / mase_scale(y, task.season))
    return float(np.mean(errs))


def snaive_mase(task: Task) -> float:
    return series_errors(task, lambda _item, y, h: snaive(y, h, task.season))


def score(task: Task, pred_path: Path) -> float:
    """MASE of the predictions file; a ValueError says what is wrong with it."""
    pred = pd.read_csv(pred_path, dtype={"item_id": str})
    missing = {"item_id", "timestamp", "target"} - set(pred.columns)
    if missing:
        raise ValueError(f"predictions.csv lacks columns {sorted(missing)}")
    pred = with_key(pred)
    if pred.duplicated(["item_id", "_t"]).any():
        raise ValueError("duplicate (item_id, timestamp) rows in predictions.csv")
    truth = with_key(task.truth)
    merged = truth.merge(pred[["item_id", "_t", "target"]], on=["item_id", "_t"], how="left", suffixes=("", "_p"))
    yhat = pd.to_numeric(merged["target_p"], errors="coerce").to_numpy(float)
    if not np.isfinite(yhat).all():
        raise ValueError(f"{int((~np.isfinite(yhat)).sum())} of {len(merged)} test rows missing or not finite")
    by_item = {item: yhat[idx] for item, idx in merged.groupby("item_id", sort=False).indices.items()}
    return series_errors(task, lambda item, _y, _h: by_item[item])


def evaluate(task: Task, work: Path, args: argparse.Namespace) -> Row:
    row = Row(task.name, int(task.truth["item_id"].nunique()), task.horizon, snaive_mase=snaive_mase(task))
    data, out = work / "tasks" / task.name, work / "runs" / task.name
    write_task(task, data)
    (work / "runs").mkdir(parents=True, exist_ok=True)
    row.wall_s = round(run_mlwright(task, data, out, args), 1)
    try:
        row.mase = score(task, out / "predictions.csv")
        row.ratio = row.mase / row.snaive_mase if row.snaive_mase > 0 else math.nan
    except (OSError, ValueError, pd.errors.ParserError) as e:
        row.error = f"{type(e).__name__}: {e} (log: {out.with_suffix('.log')}{'' if args.work else ', removed'})"
    return row


# ---- CLI ------------------------------------------------------------------------------------------------------

def build_tasks(args: argparse.Namespace) -> list[Task]:
    tasks = backtest_tasks(Path(args.series), args.cutoffs, args.horizon) if args.series else []
    tasks += [synthetic_task(name) for name in SYNTHETIC]
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {t.name for t in tasks}
        if unknown:
            sys.exit(f"unknown task(s): {', '.join(sorted(unknown))}")
        tasks = [t for t in tasks if t.name in wanted]
    return tasks


def print_table(rows: list[Row]) -> None:
    cols = ("task", "n_series", "H", "mase", "snaive_mase", "ratio", "wall_s")
    width = max([len(r.task) for r in rows] + [len("mean")]) + 2
    print(f"{cols[0]:<{width}}" + "".join(f"{c:>12}" for c in cols[1:]))
    for r in rows:
        print(f"{r.task:<{width}}{r.n_series:>12}{r.H:>12}{r.mase:>12.4f}{r.snaive_mase:>12.4f}"
              f"{r.ratio:>12.4f}{r.wall_s:>12.1f}")

    def mean(attr: str) -> float:
        vals = [getattr(r, attr) for r in rows]
        return float(np.nanmean(vals)) if any(np.isfinite(vals)) else math.nan

    print(f"{'mean':<{width}}{'':>12}{'':>12}{mean('mase'):>12.4f}{mean('snaive_mase'):>12.4f}"
          f"{mean('ratio'):>12.4f}{mean('wall_s'):>12.1f}")
    for r in rows:
        if r.error:
            print(f"{r.task}: {r.error}")


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--series", help="long-format CSV (item_id,timestamp,target) to backtest")
    p.add_argument("--cutoffs", type=int, default=3, help="backtest cuts of --series (default 3)")
    p.add_argument("--horizon", type=int, default=12, help="horizon of the --series cuts (default 12)")
    p.add_argument("--time-limit", type=int, default=120, help="mlwright --time-limit per task (default 120)")
    p.add_argument("--python", default=sys.executable, help="interpreter that runs mlwright")
    p.add_argument("--pythonpath", help="folder prepended to PYTHONPATH of the runs (another source tree)")
    p.add_argument("--work", help="folder for task and run folders (default: a temp dir, removed at the end)")
    p.add_argument("--only", help="comma-separated task names")
    p.add_argument("--json", help="write all rows as JSON to this file")
    p.add_argument("--list", action="store_true", help="print the task names and exit")
    return p.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    tasks = build_tasks(args)
    if args.list:
        print("\n".join(t.name for t in tasks))
        return
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="forecast_backtest-"))
    rows = []
    try:
        for task in tasks:
            rows.append(evaluate(task, work.resolve(), args))
            r = rows[-1]
            print(f"[{len(rows)}/{len(tasks)}] {r.task}: mase {r.mase:.4f} snaive {r.snaive_mase:.4f} "
                  f"({r.wall_s:.0f}s){' ' + r.error if r.error else ''}", file=sys.stderr, flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print_table(rows)
    if args.json:
        clean = [{k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in asdict(r).items()}
                 for r in rows]
        Path(args.json).write_text(json.dumps(clean, indent=1))


if __name__ == "__main__":
    main()
