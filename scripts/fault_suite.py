#!/usr/bin/env python
"""The fault and security suite of issue #10, as a measuring tool (not a unit test): it tries bad inputs through
the real CLI, injects faults into real runs, and runs the sandbox escape probes of tests/test_sandbox_security.py,
then writes the figures table (markdown) and every case's details (JSON).

    python scripts/fault_suite.py --out DIR [--only bad,faults,escapes] [-j N] [--cases NAME,...]

Bad inputs: each generated raw folder declares what should come out: `ok` (a valid prediction file, checked
against the generator's ids and labels) or `error` (a non-zero exit with a clear message, no traceback). Every
result is classified: valid output / clear error / crash (traceback, a signal, a hang, or a non-zero exit with no
message) / wrong result (exit 0 with a wrong file, or an answer where an error was expected); the sha256 of every
file of the data folder (and of an earlier run folder) before and after says whether anything was modified.

Faults: kill -9 / SIGTERM / SIGINT of mlwright at each stage then `mlwright resume`, files tampered with or linked
while the run waits before its finish, the run folder's bookkeeping damaged before a resume, a full disk (root
only: a small tmpfs), and LLM-written attempts (a scripted fake LLM service on 127.0.0.1) that hang, write NaN or
wrong ids, or tamper with an earlier attempt. Survived = the run (or its resume) ends with a valid, re-checked
prediction file, or with a clear error and no final file; never a wrong file, a traceback or a hang.

Escapes: the attempt-script probes of tests/test_sandbox_security.py, run by calling its test functions (their
`attempt` helper is wrapped to keep each probe script's output), plus one probe script written by a scripted LLM
and run by a real `mlwright run`. Each output line that reports a probe counts as one probe attempted; LEAK /
SETNS_OK / CONNECTED / WROTE / READ lines (or a failed assertion with none of those) count as escapes.

Run it as root and as a non-root user (the issue asks for both). Temp folders go under the system temp dir and
are removed at the end (--keep keeps them)."""
from __future__ import annotations

import argparse
import bz2
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from conftest import make_classification_frame, make_regression_frame, split_write  # noqa: E402

TIME_LIMIT = 30  # seconds per bad-input run: the light recipes fit easily on these small tables
HANG_S = 120  # a run that has not exited after this long is a hang
# mlwright runs with this python: the suite's own when it runs in a virtualenv, else the project's .venv
PY = sys.executable if sys.prefix != sys.base_prefix or not (ROOT / ".venv" / "bin" / "python").exists() \
    else str(ROOT / ".venv" / "bin" / "python")
IS_ROOT = os.geteuid() == 0


def now() -> float:
    return time.monotonic()


# -- running mlwright ---------------------------------------------------------------------------------------------
def base_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWRIGHT_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # the repo may be read-only for this user
    env["MLWRIGHT_SEEDS"] = "0"  # faults, not models: further seeds would only fill each run's limit
    env["MLWRIGHT_EXCLUDE_RECIPES"] = "catboost_light"  # ... as CatBoost would (15 s on 240 rows: ordered boosting)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def mlwright_cmd(*args: str) -> list[str]:
    return [PY, "-m", "mlwright", *args]


def run_args(data: Path, out: Path, task: str, *extra: str, limit: float = TIME_LIMIT) -> list[str]:
    return mlwright_cmd("run", str(data), "--task", task, "--output", str(out), "--time-limit", f"{limit:g}",
                        "--no-autogluon", "--llm", "none", *extra)


def run(cmd: list[str], env: Optional[dict] = None, timeout: float = HANG_S, cwd: Path = ROOT) -> dict:
    t0 = now()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         env=env or base_env(), cwd=cwd, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        rc, hung = p.returncode, False
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        rc, hung = None, True
    return {"cmd": cmd, "rc": rc, "hung": hung, "seconds": round(now() - t0, 1),
            "stdout": out.decode(errors="replace"), "stderr": err.decode(errors="replace")}


TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*File \".*\", line \d+|╭─+ Traceback", re.M)


def message(r: dict) -> str:
    """The first line of mlwright's error message (or the last line of output)."""
    text = (r.get("stderr") or "") + "\n" + (r.get("stdout") or "")
    found = re.search(r"(?<![A-Za-z])error: .*|(?<=seconds)error: .*", text)  # the live table may not end its line
    if found:
        return found.group(0).strip()[:300]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def outcome(r: dict) -> tuple[str, str]:
    """('exit0' | 'clear_error' | 'crash', why) from the process alone."""
    text = (r.get("stderr") or "") + (r.get("stdout") or "")
    if r["hung"]:
        return "crash", f"hang: no exit within {r.get('timeout', HANG_S)} s"
    if r["rc"] is not None and r["rc"] < 0:
        return "crash", f"killed by signal {-r['rc']}"
    if TRACEBACK.search(text):
        exc = re.findall(r"^[\s│]*([A-Za-z_.]*(?:Error|Exception)\b: .*?)[\s│]*$", text, re.M)
        return "crash", "traceback: " + (exc[-1][:200] if exc else "(see stderr)")
    if r["rc"] == 0:
        return "exit0", ""
    if message(r).startswith("error: "):
        return "clear_error", ""
    return "crash", f"exit code {r['rc']} with no clear error message"


# -- checksums ----------------------------------------------------------------------------------------------------
def tree_sums(folder: Path) -> dict:
    """path -> sha256 (or the link target / 'unreadable'), plus the mode bits, for everything under folder."""
    sums = {}
    if not folder.exists() and not folder.is_symlink():
        return sums
    if folder.is_file():
        return {folder.name: _file_sum(folder)}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = os.fsencode(p.relative_to(folder)).decode("utf-8", "backslashreplace")
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                sums[rel] = "link->" + os.fsencode(os.readlink(p)).decode("utf-8", "backslashreplace")
            elif stat.S_ISREG(st.st_mode):
                sums[rel] = f"{_file_sum(p)} mode={oct(st.st_mode & 0o7777)}"
            elif stat.S_ISDIR(st.st_mode):
                sums[rel] = f"dir mode={oct(st.st_mode & 0o7777)}"
            else:
                sums[rel] = f"special mode={oct(st.st_mode)}"
    return sums


def _file_sum(p: Path) -> str:
    try:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        st = p.stat()
        return f"unreadable size={st.st_size} mtime={st.st_mtime_ns}"


def diff_sums(before: dict, after: dict) -> list[str]:
    changed = [k for k in before if after.get(k) != before[k]]
    added = [k for k in after if k not in before]
    return [f"changed {k}" for k in changed] + [f"added {k}" for k in added]


# -- checking a prediction file against the generator's truth --------------------------------------------------
@dataclass
class Truth:
    ids: list            # the test ids as strings, in the test file's order ([] when the file has no id column)
    values: list         # the true target per test row
    id_col: Optional[str] = "customer_id"
    target: str = "label"
    kind: str = "label"  # label | number
    pred_file: str = "predictions.csv"
    quality: bool = True  # beat a constant (accuracy > majority rate, RMSE < std)
    classes: Optional[set] = None  # the labels a prediction may take (default: the truth's)

    def check(self, out: Path) -> tuple[bool, str]:
        path = out / self.pred_file
        if not path.is_file():
            return False, f"exit 0 but no {self.pred_file} in the run folder"
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
        except Exception as e:  # noqa: BLE001
            return False, f"{self.pred_file} is not a readable csv: {e}"
        want = ([self.id_col] if self.id_col else []) + [self.target]
        if list(df.columns) != want:
            return False, f"columns {list(df.columns)} != {want}"
        if len(df) != len(self.values):
            return False, f"{len(df)} rows, expected {len(self.values)} (one per test row)"
        if self.id_col:
            got = [s.strip() for s in df[self.id_col]]
            if got != [str(i) for i in self.ids]:
                if sorted(got) == sorted(str(i) for i in self.ids):
                    return False, "right ids in another order than the test file's"
                bad = [(g, e) for g, e in zip(got, self.ids) if g != str(e)][:3]
                return False, f"ids differ from the test file's (got, expected): {bad}"
        vals = list(df[self.target])
        if self.kind == "number":
            num = pd.to_numeric(pd.Series(vals), errors="coerce")
            if num.isna().any():
                return False, f"{int(num.isna().sum())} non-numeric predictions"
            y = np.asarray(self.values, float)
            rmse = float(np.sqrt(np.mean((num.to_numpy(float) - y) ** 2)))
            if self.quality and rmse >= float(np.std(y)) and np.std(y) > 0:
                return False, f"RMSE {rmse:.1f} >= std {np.std(y):.1f} of the truth"
            return True, f"RMSE {rmse:.1f}"
        classes = self.classes or {str(v) for v in self.values}
        unknown = [v for v in vals if v not in classes]
        if unknown:
            return False, f"{len(unknown)} predictions are not class labels {sorted(classes)[:5]} (e.g. {unknown[:3]})"
        acc = float(np.mean([str(v) == str(t) for v, t in zip(vals, self.values)]))
        major = float(pd.Series([str(t) for t in self.values]).value_counts(normalize=True).iloc[0])
        if self.quality and acc <= major:
            return False, f"accuracy {acc:.3f} <= majority rate {major:.3f}"
        return True, f"accuracy {acc:.3f} (majority {major:.3f})"


def churn(n: int = 300, seed: int = 0, **kw) -> pd.DataFrame:
    return make_classification_frame(n=n, seed=seed, **kw)


def write_churn(data: Path, df: Optional[pd.DataFrame] = None, n_test: int = 60, **csv_kw) -> Truth:
    """train.csv / test.csv of the churn table (test without its label); the Truth of the test rows."""
    df = churn() if df is None else df
    data.mkdir(parents=True, exist_ok=True)
    df.iloc[n_test:].to_csv(data / "train.csv", index=False, **csv_kw)
    df.iloc[:n_test].drop(columns=["label"]).to_csv(data / "test.csv", index=False, **csv_kw)
    return Truth(list(df["customer_id"][:n_test]), list(df["label"][:n_test]))


# -- bad inputs ---------------------------------------------------------------------------------------------------
@dataclass
class Bad:
    """A generated bad raw folder: build(data_dir, work_dir) writes it and returns its Setup."""
    name: str
    expect: str  # ok (valid output expected) | error (a clear error expected) | either (both are right answers)
    build: Callable
    what: str = ""


@dataclass
class Setup:
    task: str = "predict label for each customer"
    args: list = field(default_factory=list)
    truth: Optional[Truth] = None
    data_arg: Optional[Path] = None  # what is passed as DATA_DIR (default: the data folder)
    out: Optional[Path] = None       # --output (default: work/out)
    watch: list = field(default_factory=list)  # more folders whose checksums must not change
    post: Optional[Callable] = None  # () -> list of problems (e.g. a file written outside)
    expect: Optional[str] = None     # overrides the case's expectation (e.g. depends on root)
    note: str = ""


def b_empty(d, w):
    d.mkdir()
    return Setup()


def b_readme_only(d, w):
    d.mkdir()
    (d / "README.md").write_text("# Customer churn\nPredict whether each customer leaves. Data comes later.\n")
    return Setup()


def b_no_test_rows(d, w):
    d.mkdir()
    churn().to_csv(d / "train.csv", index=False)
    return Setup(note="only labelled rows: nothing to predict")


def b_missing_column(d, w):
    t = write_churn(d)
    return Setup(task="Predict attrition for each customer; write predictions.csv with columns customer_id,attrition",
                 truth=t)


def b_duplicate_columns(d, w):
    d.mkdir()
    df = churn()
    for name, part in (("train.csv", df.iloc[60:]), ("test.csv", df.iloc[:60].drop(columns=["label"]))):
        cols = ["x1" if c == "x2" else c for c in part.columns]  # two columns named x1
        part.to_csv(d / name, index=False, header=cols)
    return Setup(truth=Truth(list(df["customer_id"][:60]), list(df["label"][:60])),
                 note="a rename that is reported, or a clear error; never the header read as data")


def b_duplicate_target(d, w):
    d.mkdir()
    df = churn()
    tr = df.iloc[60:].copy()
    tr.insert(1, "label_dup", tr["label"])
    tr.to_csv(d / "train.csv", index=False, header=[c if c != "label_dup" else "label" for c in tr.columns])
    df.iloc[:60].drop(columns=["label"]).to_csv(d / "test.csv", index=False)
    return Setup(truth=Truth(list(df["customer_id"][:60]), list(df["label"][:60])))


def b_header_only(d, w):
    d.mkdir()
    (d / "train.csv").write_text("customer_id,x1,x2,color,label\n")
    (d / "test.csv").write_text("customer_id,x1,x2,color\n")
    return Setup()


def b_all_nan_target(d, w):
    df = churn()
    df["label"] = np.nan
    write_churn(d, df)
    return Setup()


def b_single_class(d, w):
    df = churn()
    df["label"] = "yes"
    t = write_churn(d, df)
    t.quality = False
    return Setup(truth=t, note="a constant answer (with a note) or a clear error")


def b_one_row(d, w):
    df = churn(n=61)
    t = write_churn(d, df)
    t.quality, t.classes = False, set(churn()["label"])
    return Setup(truth=t, note="one training row")


def b_constant_target(d, w):
    df = make_regression_frame()
    df["price"] = 5.0
    split_write(df, d, "price")
    return Setup(task="predict price for each Id",
                 truth=Truth([str(i) for i in df["Id"][:60]], [5.0] * 60, id_col="Id", target="price",
                             kind="number", quality=False))


def b_dup_test_ids(d, w):
    df = churn()
    test = df.iloc[:60].drop(columns=["label"]).copy()
    test.iloc[10, 0] = test.iloc[9, 0]  # two test rows share an id (their features differ)
    d.mkdir()
    df.iloc[60:].to_csv(d / "train.csv", index=False)
    test.to_csv(d / "test.csv", index=False)
    return Setup(truth=Truth(list(test["customer_id"]), list(df["label"][:60])),
                 note="one row per test row (ids as in the test file), or a clear error")


def b_mismatched_columns(d, w):
    df = churn()
    d.mkdir()
    df.iloc[60:].to_csv(d / "train.csv", index=False)
    df.iloc[:60].drop(columns=["label", "x2"]).rename(columns={"color": "colour"}).to_csv(d / "test.csv",
                                                                                         index=False)
    t = Truth(list(df["customer_id"][:60]), list(df["label"][:60]))
    t.quality = False  # the strongest features are gone from the test file
    return Setup(truth=t, note="test lacks x2 and names color colour")


def b_binary_csv(d, w):
    d.mkdir()
    (d / "train.csv").write_bytes(os.urandom(200_000))
    churn().iloc[:60].drop(columns=["label"]).to_csv(d / "test.csv", index=False)
    return Setup()


def b_truncated_zip(d, w):
    d.mkdir()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        df = churn()
        z.writestr("train.csv", df.iloc[60:].to_csv(index=False))
        z.writestr("test.csv", df.iloc[:60].drop(columns=["label"]).to_csv(index=False))
    data = buf.getvalue()
    (d / "data.zip").write_bytes(data[: len(data) // 2])
    return Setup()


def b_zip_traversal(d, w):
    d.mkdir()
    df = churn()
    with zipfile.ZipFile(d / "data.zip", "w") as z:
        z.writestr("train.csv", df.iloc[60:].to_csv(index=False))
        z.writestr("test.csv", df.iloc[:60].drop(columns=["label"]).to_csv(index=False))
        z.writestr("../../evil_traversal.txt", "ESCAPED")
        z.writestr("/tmp/evil_absolute_fs.txt", "ESCAPED")
    targets = [w / "evil_traversal.txt", w.parent / "evil_traversal.txt", d.parent / "evil_traversal.txt",
               Path("/tmp/evil_absolute_fs.txt")]

    def post():
        return [f"wrote {p}" for p in targets if p.exists()]
    return Setup(truth=Truth(list(df["customer_id"][:60]), list(df["label"][:60])), post=post)


def b_symlink_outside(d, w):
    t = write_churn(d)
    secret = w / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("OUTSIDE-SECRET-7f3a\n")
    (d / "notes.txt").symlink_to(secret)
    (d / "extra.csv").symlink_to("/etc/passwd")
    return Setup(truth=t, watch=[secret.parent], note="links out of the folder: ignored or read, never written")


def b_xlsx_is_text(d, w):
    d.mkdir()
    df = churn()
    df.iloc[60:].to_csv(d / "train.xlsx", index=False)
    df.iloc[:60].drop(columns=["label"]).to_csv(d / "test.xlsx", index=False)
    return Setup(truth=Truth(list(df["customer_id"][:60]), list(df["label"][:60])))


def b_jsonl_broken(d, w):
    d.mkdir()
    df = churn()
    lines = df.iloc[60:].to_json(orient="records", lines=True).splitlines()
    lines[50] = lines[50][:20]  # a line cut short
    (d / "train.jsonl").write_text("\n".join(lines) + "\n")
    df.iloc[:60].drop(columns=["label"]).to_json(d / "test.jsonl", orient="records", lines=True)
    return Setup(truth=Truth(list(df["customer_id"][:60]), list(df["label"][:60])),
                 note="the broken line skipped with a note, or a clear error")


def b_non_utf8_names(d, w):
    d.mkdir()
    df = churn()
    with open(os.path.join(os.fsencode(d), b"train_\xff\xfe.csv"), "wb") as f:
        f.write(df.iloc[60:].to_csv(index=False).encode())
    with open(os.path.join(os.fsencode(d), b"test_\xe9.csv"), "wb") as f:
        f.write(df.iloc[:60].drop(columns=["label"]).to_csv(index=False).encode())
    return Setup(truth=Truth(list(df["customer_id"][:60]), list(df["label"][:60])))


def b_latin1_labels(d, w):
    df = churn(classes=("café", "thé"))
    t = write_churn(d, df, encoding="latin-1")
    return Setup(truth=t, note="latin-1 bytes in labels")


def b_quotes_backslashes(d, w):
    lab = "lab'''el \\ \""
    df = churn(classes=("it's ''' \"no\"", "yes\\ \\n 日本"))
    df = df.rename(columns={"x1": "x1 '''); import os #", "color": "cölör \\ \"q\"", "label": lab})
    data = split_write(df, d, lab)
    return Setup(task="predict the label for each customer", args=["--target", lab],
                 truth=Truth(list(df["customer_id"][:60]), list(df[lab][:60]), target=lab), data_arg=data)


def b_code_column_name(d, w):
    marker = Path(tempfile.gettempdir()) / f"pwned-{os.getpid()}-{threading.get_ident()}"
    code = f"__import__('os').system('touch {marker}')"
    df = churn().rename(columns={"x2": code, "color": "'); open('" + str(marker) + "','w'); ('"})
    t = write_churn(d, df)

    def post():
        found = marker.exists()
        marker.unlink(missing_ok=True)
        return [f"code in a column name ran: {marker}"] if found else []
    return Setup(truth=t, post=post)


def b_huge_line(d, w):
    d.mkdir()
    with open(d / "train.csv", "w") as f:
        f.write("customer_id,x1,label")
        for i in range(4_000_000):
            f.write(f",v{i}")  # ~40 MB, one line, no newline
    (d / "test.csv").write_text("customer_id,x1\nC1,0.5\n")
    return Setup()


def b_crlf(d, w):
    return Setup(truth=write_churn(d, lineterminator="\r\n"))


def b_bom(d, w):
    return Setup(truth=write_churn(d, encoding="utf-8-sig"))


def b_utf16(d, w):
    return Setup(truth=write_churn(d, encoding="utf-16"))


def b_utf16_no_bom(d, w):
    return Setup(truth=write_churn(d, encoding="utf-16-le"))


def b_mixed_types(d, w):
    df = churn()
    df["x1"] = df["x1"].astype(object)
    for i in range(0, 300, 7):
        df.loc[i, "x1"] = ["n/a", "abc", "1,5", "--", "∞"][i % 5]
    return Setup(truth=write_churn(d, df))


def b_bad_dates(d, w):
    df = churn()
    df.insert(1, "signup_date", [["2021-13-45", "yesterday", "32/02/2020", "", "2020-01-01", "0000-00-00"][i % 6]
                                 for i in range(len(df))])
    return Setup(truth=write_churn(d, df))


def b_test_extra_columns(d, w):
    df = churn()
    d.mkdir()
    df.iloc[60:].to_csv(d / "train.csv", index=False)
    test = df.iloc[:60].drop(columns=["label"]).copy()
    test["mystery"] = np.arange(60)
    test["notes_text"] = "x"
    test.to_csv(d / "test.csv", index=False)
    return Setup(truth=Truth(list(df["customer_id"][:60]), list(df["label"][:60])))


def b_nan_test_ids(d, w):
    df = churn()
    d.mkdir()
    df.iloc[60:].to_csv(d / "train.csv", index=False)
    test = df.iloc[:60].drop(columns=["label"]).copy()
    test.loc[[3, 17, 40], "customer_id"] = np.nan
    test.to_csv(d / "test.csv", index=False)
    return Setup(truth=Truth([("" if pd.isna(i) else i) for i in test["customer_id"]], list(df["label"][:60])),
                 note="rows without an id: one output row each (empty id), or a clear error")


def b_deep_nesting(d, w):
    deep = d
    for i in range(40):
        deep = deep / f"level{i:02d}"
    return Setup(truth=write_churn(deep))


def b_unreadable_file(d, w):
    t = write_churn(d)
    os.chmod(d / "train.csv", 0)
    return Setup(truth=t, expect="ok" if IS_ROOT else "error",
                 note="chmod 000 train.csv: root reads it anyway; another user gets a clear error")


def b_read_only_folder(d, w):
    t = write_churn(d)
    for p in d.iterdir():
        os.chmod(p, 0o444)
    os.chmod(d, 0o555)
    return Setup(truth=t)


def b_earlier_run(d, w):
    t = write_churn(d)
    out = w / "earlier"
    r = run(run_args(d, out, "predict label for each customer", limit=20))
    if r["rc"] != 0:
        raise RuntimeError("the earlier run failed: " + message(r))
    return Setup(truth=t, out=out, watch=[out], note="--output names a folder holding an earlier run")


def b_output_is_data(d, w):
    t = write_churn(d)
    return Setup(truth=t, out=d, note="--output is the data folder itself")


def b_missing_data_dir(d, w):
    return Setup(data_arg=w / "no_such_folder")


def b_fifo(d, w):
    t = write_churn(d)
    os.mkfifo(d / "extra.csv")
    return Setup(truth=t, note="a fifo among the files: skipped or refused, never a hang")


def b_zip_bomb(d, w):
    d.mkdir()
    df = churn()
    with zipfile.ZipFile(d / "data.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("train.csv", df.iloc[60:].to_csv(index=False))
        z.writestr("test.csv", df.iloc[:60].drop(columns=["label"]).to_csv(index=False))
        with z.open("padding.csv", "w", force_zip64=True) as f:
            block = b"0" * (1 << 20)
            for _ in range(1536):  # 1.5 GiB of zeros in ~1.5 MB
                f.write(block)
    return Setup(truth=Truth(list(df["customer_id"][:60]), list(df["label"][:60])),
                 note="a 1.5 GiB member in a 1.5 MB zip: refused as a bomb (clear error), or skipped")


def b_gz_bomb(d, w):
    d.mkdir()
    df = churn()
    df.iloc[:60].drop(columns=["label"]).to_csv(d / "test.csv", index=False)
    with gzip.open(d / "train.csv.gz", "wb", compresslevel=9) as f:
        f.write(df.iloc[60:].to_csv(index=False).encode())
        line = b"C99999,0.1,0.2,red,yes\n" * 40000
        for _ in range(1200):  # ~1.1 GB of rows
            f.write(line)
    return Setup(note="train.csv.gz inflates to ~1.1 GB of rows")


def b_leading_zero_ids(d, w):
    df = churn()
    df["customer_id"] = [f"{i:06d}" for i in range(len(df))]
    return Setup(truth=write_churn(d, df), note="ids 000000..: kept as text")


def b_newlines_in_fields(d, w):
    df = churn()
    df["color"] = df["color"] + "\nline two, \"quoted\""
    return Setup(truth=write_churn(d, df))


def b_bz2_csv(d, w):
    d.mkdir()
    df = churn()
    (d / "train.csv.bz2").write_bytes(bz2.compress(df.iloc[60:].to_csv(index=False).encode()))
    test = bz2.compress(df.iloc[:60].drop(columns=["label"]).to_csv(index=False).encode())
    (d / "test.csv.bz2").write_bytes(test[:-40])
    return Setup(note="test.csv.bz2 truncated: a clear error")


def b_empty_task(d, w):
    return Setup(task="", truth=write_churn(d),
                 note="no task text: a guessed target with a note, or a clear error")


def b_many_columns(d, w):
    df = churn()
    rng = np.random.default_rng(0)
    extra = pd.DataFrame(rng.normal(size=(len(df), 3000)).round(3), columns=[f"f{i}" for i in range(3000)])
    df = pd.concat([df.drop(columns=["label"]), extra, df[["label"]]], axis=1)
    return Setup(truth=write_churn(d, df), note="3000 noise columns")


BAD = [
    Bad("empty_folder", "error", b_empty),
    Bad("readme_only", "error", b_readme_only),
    Bad("no_test_rows", "error", b_no_test_rows),
    Bad("task_names_missing_column", "error", b_missing_column),
    Bad("duplicate_column_names", "ok", b_duplicate_columns),
    Bad("duplicate_target_column", "either", b_duplicate_target),
    Bad("header_only", "error", b_header_only),
    Bad("all_nan_target", "error", b_all_nan_target),
    Bad("single_class_target", "either", b_single_class),
    Bad("one_training_row", "either", b_one_row),
    Bad("constant_regression_target", "either", b_constant_target),
    Bad("duplicated_test_ids", "either", b_dup_test_ids),
    Bad("mismatched_train_test_columns", "either", b_mismatched_columns),
    Bad("binary_garbage_csv", "error", b_binary_csv),
    Bad("truncated_zip", "error", b_truncated_zip),
    Bad("zip_path_traversal", "either", b_zip_traversal),
    Bad("symlinks_outside", "either", b_symlink_outside),
    Bad("xlsx_that_is_text", "either", b_xlsx_is_text),
    Bad("jsonl_broken_line", "either", b_jsonl_broken),
    Bad("non_utf8_file_names", "ok", b_non_utf8_names),
    Bad("latin1_labels", "ok", b_latin1_labels),
    Bad("quotes_backslashes_in_names_labels", "ok", b_quotes_backslashes),
    Bad("python_code_column_names", "ok", b_code_column_name),
    Bad("huge_single_line", "error", b_huge_line),
    Bad("crlf", "ok", b_crlf),
    Bad("utf8_bom", "ok", b_bom),
    Bad("utf16_bom", "ok", b_utf16),
    Bad("utf16_no_bom", "ok", b_utf16_no_bom),
    Bad("mixed_types_column", "ok", b_mixed_types),
    Bad("unparseable_dates", "ok", b_bad_dates),
    Bad("test_extra_columns", "ok", b_test_extra_columns),
    Bad("nan_test_ids", "either", b_nan_test_ids),
    Bad("deeply_nested_40_levels", "either", b_deep_nesting),
    Bad("unreadable_file_chmod_000", "ok", b_unreadable_file),
    Bad("read_only_data_folder", "ok", b_read_only_folder),
    Bad("output_holds_earlier_run", "error", b_earlier_run),
    Bad("output_is_the_data_folder", "error", b_output_is_data),
    Bad("data_dir_missing", "error", b_missing_data_dir),
    Bad("fifo_in_folder", "either", b_fifo),
    Bad("zip_bomb_member", "error", b_zip_bomb),
    Bad("gz_bomb_train", "error", b_gz_bomb),
    Bad("leading_zero_ids", "ok", b_leading_zero_ids),
    Bad("newlines_in_quoted_fields", "ok", b_newlines_in_fields),
    Bad("truncated_bz2_test", "error", b_bz2_csv),
    Bad("empty_task_text", "either", b_empty_task),
    Bad("3000_columns", "ok", b_many_columns),
]


def run_bad(case: Bad, work: Path) -> dict:
    work.mkdir(parents=True)
    data = work / "data"
    res = {"category": "bad", "name": case.name, "expect": case.expect}
    try:
        s = case.build(data, work)
    except Exception as e:  # noqa: BLE001 - a generator problem is the suite's, reported as such
        return {**res, "class": "suite_error", "detail": f"building the case failed: {e!r}",
                "trace": traceback.format_exc()[-1500:]}
    expect = s.expect or case.expect
    res["expect"] = expect
    data_arg = s.data_arg or data
    out = s.out or (work / "out")
    watched = [data] + list(s.watch)
    before = {str(p): tree_sums(p) for p in watched}
    cmd = run_args(data_arg, out, s.task, *s.args)
    r = run(cmd, timeout=HANG_S)
    r["timeout"] = HANG_S
    after = {str(p): tree_sums(p) for p in watched}
    modified = [f"{k}: {c}" for k in before for c in diff_sums(before[k], after[k])]
    how, why = outcome(r)
    if how == "crash":
        klass, detail = "crash", why
    elif how == "clear_error":
        klass, detail = "clear_error", {"error": "expected", "either": "an accepted answer"}.get(
            expect, "an error where valid output was expected")
    elif expect == "error":
        klass, detail = "wrong_result", "exit 0 where an error was expected"
        if s.truth:
            ok, reason = s.truth.check(out)
            detail += f" (prediction check: {reason})"
    elif s.truth is None:
        klass, detail = "valid_output", "exit 0 (no truth to check against)"
    else:
        ok, reason = s.truth.check(out)
        klass, detail = ("valid_output" if ok else "wrong_result"), reason
        if not ok and reason.startswith(("accuracy", "RMSE")):  # right rows and labels, no better than a constant
            klass = "poor_quality"
    problems = s.post() if s.post else []
    if problems:
        modified += problems
    summary = {}
    try:
        summary = json.loads((out / "run.json").read_text())
    except (OSError, ValueError):
        pass
    return {**res, "class": klass, "detail": detail, "data_modified": modified, "note": s.note,
            "command": " ".join(map(_shown, cmd)), "exit_code": r["rc"], "seconds": r["seconds"],
            "message": message(r), "run_status": summary.get("status"), "run_error": summary.get("error"),
            "task_notes": ((summary.get("task") or {}).get("notes") or [])[:8],
            "stderr_tail": r["stderr"][-1500:] if klass in ("crash", "wrong_result") else r["stderr"][-300:]}


def _shown(a: str) -> str:
    return a if re.fullmatch(r"[\w./=:,+-]+", a) else repr(a)


# -- faults -------------------------------------------------------------------------------------------------------
def start(data: Path, out: Path, *extra: str, limit: float = 25, env: Optional[dict] = None,
          task: str = "predict label") -> subprocess.Popen:
    cmd = run_args(data, out, task, *extra, limit=limit)
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         env=env or base_env(), cwd=ROOT, text=True, errors="replace")
    p.cmd = cmd  # type: ignore[attr-defined]
    return p


def wait_for(cond, timeout: float = 60.0):
    deadline = now() + timeout
    while now() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise TimeoutError("the run never reached the stage")


def running_attempt(out: Path):
    try:
        with sqlite3.connect(f"file:{out / 'journal.sqlite'}?mode=ro", uri=True) as con:
            row = con.execute("SELECT process FROM attempts WHERE process IS NOT NULL").fetchone()
    except sqlite3.Error:
        return None
    return json.loads(row[0]) if row else None


def signal_and_wait(p: subprocess.Popen, sig: int, timeout: float = 60) -> dict:
    os.kill(p.pid, sig)
    try:
        _, err = p.communicate(timeout=timeout)
        return {"rc": p.returncode, "hung": False, "stderr": err or "", "stdout": ""}
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        return {"rc": None, "hung": True, "stderr": err or "", "stdout": "", "timeout": timeout}


def final_check(out: Path, truth: Truth, r: dict, test_csv: Optional[Path] = None) -> tuple[bool, str]:
    """Survived: exit 0 with a valid, re-checked file (checksums of run.json agree), or a clear error and no final
    file; never a traceback, a hang or a wrong file."""
    how, why = outcome(r)
    if how == "crash":
        return False, why
    try:
        s = json.loads((out / "run.json").read_text())
    except (OSError, ValueError) as e:
        s = {"status": None, "error": f"run.json unreadable: {e}"}
    pred = out / truth.pred_file
    if how == "clear_error":
        if pred.exists() and s.get("status") != "succeeded":
            return False, (f"a clear error ({message(r)}) but {pred.name} is in the run folder "
                           f"(status {s.get('status')})")
        return True, f"clear error: {message(r)}"
    if test_csv is not None:  # the test file changed meanwhile: the ids to expect are the file's now
        ids = list(pd.read_csv(test_csv, dtype=str, keep_default_na=False)["customer_id"])
        if len(ids) != len(truth.ids):
            truth = Truth(ids, (truth.values + truth.values)[: len(ids)], quality=False)
    ok, reason = truth.check(out)
    if not ok:
        return False, "wrong file: " + reason
    if s.get("status") != "succeeded":
        return False, f"exit 0 but run.json says {s.get('status')}"
    if (pred.read_text().count("TAMPERED")):
        return False, "the final file holds TAMPERED"
    sums = s.get("checksums") or {}
    if sums.get(truth.pred_file) != hashlib.sha256(pred.read_bytes()).hexdigest():
        return False, "run.json's checksum does not match the final file"
    return True, "valid re-checked output: " + reason


def resume(out: Path, env: Optional[dict] = None) -> dict:
    r = run(mlwright_cmd("resume", str(out), "--no-autogluon"), env=env, timeout=HANG_S)
    r["timeout"] = HANG_S
    return r


def f_kill_stage(stage: str, sig: int = signal.SIGKILL):
    def fault(work: Path) -> dict:
        data, out = work / "data", work / "out"
        truth = write_churn(data)
        env = base_env(**({"MLWRIGHT_TEST_PAUSE_AT": stage} if stage in ("finish", "report") else {}))
        p = start(data, out, env=env)
        if stage == "perception":
            wait_for(lambda: (out / "run.json").exists())
        elif stage == "attempt":
            wait_for(lambda: running_attempt(out))
            time.sleep(0.3)
        else:
            wait_for(lambda: (out / f".test-paused-{stage}").exists())
        killed = signal_and_wait(p, sig)
        (out / f".test-paused-{stage}").unlink(missing_ok=True)
        steps = [f"{signal.Signals(sig).name} at {stage}: exit {killed['rc']}"]
        if sig != signal.SIGKILL and TRACEBACK.search(killed["stderr"]):
            return {"survived": False, "detail": f"{signal.Signals(sig).name} gave a traceback", "steps": steps,
                    "command": " ".join(p.cmd)}
        if killed["rc"] == 0:  # the run finished all the same: its own output must then be right
            ok, why = final_check(out, truth, killed)
            return {"survived": ok, "detail": f"the run ended with exit 0 despite the signal; {why}", "steps": steps,
                    "command": " ".join(p.cmd), "exit_code": 0}
        r = resume(out)
        steps.append(f"resume: exit {r['rc']} {message(r)}")
        ok, why = final_check(out, truth, r)
        return {"survived": ok, "detail": why, "steps": steps, "command": " ".join(p.cmd) + " ; mlwright resume",
                "exit_code": r["rc"], "message": message(r)}
    return fault


def f_kill_twice(work: Path) -> dict:
    data, out = work / "data", work / "out"
    truth = write_churn(data)
    p = start(data, out)
    wait_for(lambda: running_attempt(out))
    signal_and_wait(p, signal.SIGKILL)
    p2 = subprocess.Popen(mlwright_cmd("resume", str(out), "--no-autogluon"), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=base_env(MLWRIGHT_TEST_PAUSE_AT="finish"), cwd=ROOT,
                          text=True, errors="replace")
    wait_for(lambda: (out / ".test-paused-finish").exists())
    signal_and_wait(p2, signal.SIGKILL)
    (out / ".test-paused-finish").unlink(missing_ok=True)
    r = resume(out)
    ok, why = final_check(out, truth, r)
    return {"survived": ok, "detail": why, "steps": ["kill -9 in an attempt", "kill -9 of the resume at finish",
                                                     f"resume: exit {r['rc']}"],
            "command": "run; kill -9; resume; kill -9; resume", "exit_code": r["rc"], "message": message(r)}


def f_tamper_at_finish(how: str):
    def fault(work: Path) -> dict:
        data, out = work / "data", work / "out"
        truth = write_churn(data)
        p = start(data, out, env=base_env(MLWRIGHT_TEST_PAUSE_AT="finish"))
        marker = wait_for(lambda: (out / ".test-paused-finish").exists() and out / ".test-paused-finish")
        secret = work / "secret.txt"
        secret.write_text("ROOT-ONLY-SECRET")
        for f in out.glob("attempts/*/predictions.csv"):
            if how == "overwrite":
                f.write_text("customer_id,label\n" + "TAMPERED,TAMPERED\n" * len(truth.ids))
            elif how == "link":
                f.unlink()
                f.symlink_to(data / "test.csv")
        for f in out.glob("attempts/*/solution.py"):
            if how == "link_solution":
                f.unlink()
                f.symlink_to(secret)
        marker.unlink()
        _, err = p.communicate(timeout=HANG_S)
        r1 = {"rc": p.returncode, "hung": False, "stderr": err, "stdout": ""}
        ok, why = final_check(out, truth, r1)
        steps = [f"{how} while paused at finish: exit {p.returncode} {message(r1)}"]
        leaked = [str(f) for f in out.rglob("*") if f.is_file() and not f.is_symlink()
                  and "ROOT-ONLY-SECRET" in f.read_text(errors="replace")]
        if leaked:
            ok, why = False, f"the linked secret was copied into {leaked}"
        if ok and p.returncode != 0:  # then a resume must not finish with the tampered attempt
            r = resume(out)
            ok, why = final_check(out, truth, r)
            steps.append(f"resume: exit {r['rc']} {message(r)}")
        return {"survived": ok, "detail": why, "steps": steps, "command": " ".join(p.cmd), "exit_code": p.returncode,
                "message": message(r1)}
    return fault


def f_damage_then_resume(what: str):
    def fault(work: Path) -> dict:
        data, out = work / "data", work / "out"
        truth = write_churn(data)
        p = start(data, out)
        wait_for(lambda: running_attempt(out))
        signal_and_wait(p, signal.SIGKILL)
        test_csv = None
        if what == "run_json":
            (out / "run.json").write_text('{"status": "runn')
        elif what == "journal":
            (out / "journal.sqlite").write_bytes(b"not a database" * 100)
        elif what == "test_changed":
            with open(data / "test.csv", "a") as f:
                f.write("C99999,0.5,-0.5,red\n")
            test_csv = data / "test.csv"
        elif what == "inputs_removed":
            shutil.rmtree(out / "inputs", ignore_errors=True)
        r = resume(out)
        ok, why = final_check(out, truth, r, test_csv=test_csv)
        return {"survived": ok, "detail": why, "steps": [f"kill -9 in an attempt, then {what}",
                                                         f"resume: exit {r['rc']} {message(r)}"],
                "command": " ".join(p.cmd) + " ; mlwright resume", "exit_code": r["rc"], "message": message(r)}
    return fault


def f_disk_full(work: Path) -> dict:
    if not IS_ROOT:
        return {"survived": None, "detail": "skipped: a small tmpfs needs root"}
    data, mnt = work / "data", work / "small"
    truth = write_churn(data)
    mnt.mkdir()
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if m.returncode != 0:
        return {"survived": None, "detail": f"skipped: mount failed: {m.stderr.strip()}"}
    try:
        out = mnt / "out"
        r = run(run_args(data, out, "predict label", limit=25))
        ok, why = final_check(out, truth, r)
        return {"survived": ok, "detail": why, "command": " ".join(r["cmd"]) + "  (output on a 600 KiB tmpfs)",
                "exit_code": r["rc"], "message": message(r), "stderr_tail": r["stderr"][-1500:]}
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


# LLM-written attempts, served by the tests' scripted fake LLM
def llm_fault(script_edit: Callable[[str, Path], str], what: str, limit: float = 60):
    def fault(work: Path) -> dict:
        from fake_llm_server import FakeLLMServer
        from test_llm_agents import GOOD_SCRIPT, _role

        data, out = work / "data", work / "out"
        truth = write_churn(data)
        script = script_edit(GOOD_SCRIPT, out)

        def answer(req):
            role = _role(req)
            if role == "perception":
                return '{"comments": "looks right"}'
            if role == "planner":
                return json.dumps({"candidates": ["lightgbm"], "action": "draft", "plan": "lightgbm"})
            if role == "coder":
                return script
            if role == "analyst":
                return json.dumps({"summary": "failed", "likely_cause": "?", "suggested_fix": "?"})
            return "{}"
        with FakeLLMServer(default=answer) as srv:
            cmd = mlwright_cmd("run", str(data), "--task", "predict label", "--output", str(out), "--time-limit",
                               str(limit), "--no-autogluon", "--llm", "openai-compatible", "--base-url",
                               srv.base_url, "--model", "fake", "--max-llm-attempts", "1")
            r = run(cmd, env=base_env(MLWRIGHT_LLM_API_KEY="sk-fault-suite"), timeout=limit * 1.5 + 60)
            r["timeout"] = limit * 1.5 + 60
        ok, why = final_check(out, truth, r)
        attempts = []
        try:
            with sqlite3.connect(out / "journal.sqlite") as con:
                attempts = [list(x) for x in con.execute(
                    "SELECT attempt_id, recipe, status, substr(error, 1, 160) FROM attempts ORDER BY attempt_id")]
        except sqlite3.Error:
            pass
        llm_ran = any(a[1] == "llm" for a in attempts)
        if not llm_ran:
            ok, why = None, f"not injected: no LLM attempt ran ({why})"
        return {"survived": ok, "detail": why, "command": " ".join(map(_shown, cmd)), "exit_code": r["rc"],
                "seconds": r["seconds"], "message": message(r), "attempts": attempts, "what": what}
    return fault


WRITE = "    write_outputs(out_dir, test, predict(model_dir, test), np.arange(len(X)), oof)"


def _after_write(code: str) -> Callable[[str, Path], str]:
    def edit(s: str, out: Path) -> str:
        assert WRITE in s
        return s.replace(WRITE, WRITE + "\n" + "\n".join("    " + ln for ln in code.strip().splitlines()))
    return edit


NAN_PRED = _after_write("""
_p = pd.read_csv(os.path.join(out_dir, "predictions.csv"), dtype=str)
_p[_p.columns[-1]] = "nan"
_p.to_csv(os.path.join(out_dir, "predictions.csv"), index=False)
""")
WRONG_IDS = _after_write("""
_p = pd.read_csv(os.path.join(out_dir, "predictions.csv"), dtype=str)
_p[_p.columns[0]] = ["X" + str(i) for i in range(len(_p))]
_p.to_csv(os.path.join(out_dir, "predictions.csv"), index=False)
""")
HALF_ROWS = _after_write("""
_p = pd.read_csv(os.path.join(out_dir, "predictions.csv"), dtype=str)
_p.iloc[: len(_p) // 2].to_csv(os.path.join(out_dir, "predictions.csv"), index=False)
""")
UNKNOWN_LABELS = _after_write("""
_p = pd.read_csv(os.path.join(out_dir, "predictions.csv"), dtype=str)
_p[_p.columns[-1]] = "maybe"
_p.to_csv(os.path.join(out_dir, "predictions.csv"), index=False)
""")


def HANG(s: str, out: Path) -> str:
    return s.replace("    X, y = prepare(train), target_series(train)",
                     "    import time\n    while True:\n        time.sleep(1)\n"
                     "    X, y = prepare(train), target_series(train)")


def TAMPER(s: str, out: Path) -> str:
    code = f"""
    import glob
    for _f in glob.glob({str(out / "attempts")!r} + "/*/predictions.csv") + [{str(out / "predictions.csv")!r}]:
        if os.path.abspath(_f).startswith(os.path.abspath(out_dir)):
            continue
        try:
            with open(_f, "w") as _h:
                _h.write("customer_id,label\\n" + "TAMPERED,TAMPERED\\n" * 60)
            print("WROTE", _f)
        except OSError as _e:
            print("write refused", _f, _e)
    for _d in glob.glob({str(out)!r} + "/*"):
        print("visible", _d)
"""
    return s.replace("    X, y = prepare(train), target_series(train)",
                     code.strip("\n") + "\n    X, y = prepare(train), target_series(train)")


FAULTS = {
    "kill9_in_perception": f_kill_stage("perception"),
    "kill9_in_attempt": f_kill_stage("attempt"),
    "kill9_at_finish": f_kill_stage("finish"),
    "kill9_at_report": f_kill_stage("report"),
    "sigterm_in_attempt": f_kill_stage("attempt", signal.SIGTERM),
    "sigint_in_attempt": f_kill_stage("attempt", signal.SIGINT),
    "sigterm_at_finish": f_kill_stage("finish", signal.SIGTERM),
    "kill9_twice_attempt_then_resume_at_finish": f_kill_twice,
    "validated_prediction_overwritten_before_finish": f_tamper_at_finish("overwrite"),
    "validated_prediction_replaced_by_link": f_tamper_at_finish("link"),
    "solution_replaced_by_link_to_secret": f_tamper_at_finish("link_solution"),
    "run_json_truncated_before_resume": f_damage_then_resume("run_json"),
    "journal_corrupted_before_resume": f_damage_then_resume("journal"),
    "test_file_changed_before_resume": f_damage_then_resume("test_changed"),
    "run_inputs_removed_before_resume": f_damage_then_resume("inputs_removed"),
    "disk_full_output_tmpfs": f_disk_full,
    "llm_attempt_writes_nan": llm_fault(NAN_PRED, "NaN predictions after the helpers wrote valid ones"),
    "llm_attempt_writes_wrong_ids": llm_fault(WRONG_IDS, "ids replaced by X0..Xn"),
    "llm_attempt_drops_half_the_rows": llm_fault(HALF_ROWS, "half the rows"),
    "llm_attempt_writes_unknown_labels": llm_fault(UNKNOWN_LABELS, "a label that is no class"),
    "llm_attempt_hangs_past_timeout": llm_fault(HANG, "sleeps forever in fit"),
    "llm_attempt_tampers_with_earlier_attempt": llm_fault(TAMPER, "writes TAMPERED into other attempts' files"),
}


def run_fault(name: str, work: Path) -> dict:
    work.mkdir(parents=True)
    t0 = now()
    try:
        r = FAULTS[name](work)
    except Exception as e:  # noqa: BLE001
        r = {"survived": False, "detail": f"the fault could not be run to the end: {e!r}",
             "trace": traceback.format_exc()[-1500:]}
    r.setdefault("seconds", round(now() - t0, 1))
    r["seconds_total"] = round(now() - t0, 1)
    klass = "skipped" if r["survived"] is None else ("survived" if r["survived"] else "not_survived")
    return {"category": "faults", "name": name, "class": klass, **r}


# -- escapes ------------------------------------------------------------------------------------------------------
ESCAPE_LINE = re.compile(r"^(LEAK|SETNS_OK|CONNECTED|WROTE|READ)\b")
REFUSED_LINE = re.compile(r"^(denied|clean|setns failed|open failed|blocked|write refused|unreadable|no listing|"
                          r"refused|fork refused|listed)\b")
ESCAPE_TESTS = [  # (test function, kwargs it needs)
    ("test_runs_as_an_unprivileged_uid_without_capabilities_and_sees_only_its_processes", {}),
    ("test_parent_environ_is_unreadable", {"monkeypatch": True}),
    ("test_setns_back_into_the_host_network_fails", {}),
    ("test_loopback_server_and_unix_sockets_are_unreachable", {}),
    ("test_the_data_folder_is_invisible_or_read_only", {}),
    ("test_a_planted_aws_credentials_file_in_home_is_unreadable", {"monkeypatch": True}),
    ("test_a_fork_bomb_is_stopped_by_the_process_cap", {}),
    ("test_memory_beyond_the_cap_is_killed_and_reported", {}),
    ("test_a_memory_cap_applies_by_default", {}),
    ("test_printing_a_gib_leaves_a_capped_log_and_a_fine_run", {}),
    ("test_a_detached_child_is_gone_when_the_attempt_ends", {"then": ["print('bye')", "time.sleep(60)"]}),
    ("test_the_basic_fallback_also_kills_a_detached_child", {"monkeypatch": True}),
    ("test_paths_named_in_params_are_shown_read_only", {}),
    ("test_shared_memory_is_capped_too", {}),
]


def count_probe_lines(outputs: list[str], lines_are_probes: bool) -> tuple[int, int, list]:
    attempted = escaped = 0
    esc_lines = []
    for text in outputs:
        for line in text.splitlines():
            line = line.strip()
            if ESCAPE_LINE.match(line):
                attempted += 1
                escaped += 1
                esc_lines.append(line[:200])
            elif lines_are_probes and REFUSED_LINE.match(line):
                attempted += 1
    return attempted, escaped, esc_lines


def run_escapes(work: Path, picked: set = frozenset()) -> list[dict]:
    import pytest
    import test_sandbox_security as sec

    results = []
    kind = sec.isolation()
    real_attempt = sec.attempt
    for fname, needs in ESCAPE_TESTS:
        if picked and fname not in picked:
            continue
        if kind.kind != "bubblewrap" and fname != "test_the_basic_fallback_also_kills_a_detached_child":
            results.append({"category": "escapes", "name": fname, "class": "skipped", "probes": 0, "escaped": 0,
                            "failure": f"bubblewrap cannot run here: {kind.detail}", "escape_lines": []})
            continue
        variants = needs.get("then") or [None]
        for then in variants:
            name = fname + (f"[{then}]" if then else "")
            tmp = work / f"esc-{len(results):02d}"
            tmp.mkdir(parents=True)
            outputs: list[str] = []

            def recording(tmp_path, code, name="probe.py", **kw):
                res, out = real_attempt(tmp_path, code, name=name, **kw)
                outputs.append(out)  # noqa: B023 - called only within this iteration (sec.attempt is reset)
                return res, out
            sec.attempt = recording
            mp = pytest.MonkeyPatch()
            kwargs = {"tmp_path": tmp}
            if needs.get("monkeypatch"):
                kwargs["monkeypatch"] = mp
            if then:
                kwargs["then"] = then
            t0 = now()
            err = None
            try:
                getattr(sec, fname)(**kwargs)
            except AssertionError as e:
                err = "assertion failed: " + (str(e).splitlines()[0][:300] if str(e) else "(no message)")
            except Exception as e:  # noqa: BLE001
                err = f"error: {e!r}"[:300]
            finally:
                mp.undo()
                sec.attempt = real_attempt
            attempted, escaped, lines = count_probe_lines(outputs, True)
            attempted = max(attempted, 1)
            if err and not escaped:
                escaped = 1  # counted as an escape: the test's assertion (a cap, a kill) did not hold
            results.append({"category": "escapes", "name": name, "class": "escaped" if escaped else "held",
                            "probes": attempted, "escaped": escaped, "escape_lines": lines, "failure": err,
                            "seconds": round(now() - t0, 1), "isolation": kind.kind,
                            "command": f"tests/test_sandbox_security.py::{name} (its attempt scripts via "
                                       f"run_sandboxed)", "output_head": "\n".join(outputs)[:1200]})
            shutil.rmtree(tmp, ignore_errors=True)
    if not picked or "llm_written_attempt_via_cli" in picked:
        results.append(cli_escape_probe(work / "esc-cli"))
    return results


CLI_PROBE = r'''
import glob, os, socket, ctypes
SECRET = {secret!r}
for p in sorted(glob.glob("/proc/[0-9]*/environ")) + ["/proc/1/environ"]:
    try:
        data = open(p, "rb").read()
        print("LEAK" if SECRET.encode() in data else "clean", p)
    except OSError as e:
        print("denied", p, type(e).__name__)
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3)
    print("CONNECTED llm server")
except OSError as e:
    print("blocked llm server", e)
libc = ctypes.CDLL(None, use_errno=True)
for p in ["/proc/1/ns/net", "/proc/1/ns/mnt", "/proc/1/ns/pid"]:
    try:
        fd = os.open(p, os.O_RDONLY)
        print("SETNS_OK" if libc.setns(fd, 0) == 0 else "setns failed", p)
    except OSError as e:
        print("open failed", p, type(e).__name__)
for p in {write_targets!r}:
    existed = os.path.exists(p)
    try:
        with open(p, "a") as f:
            f.write({token!r})
        print("WROTE", p, "existed" if existed else "new")
    except OSError as e:
        print("write refused", p, type(e).__name__)
for p in [{home!r} + "/.aws/credentials", {home!r} + "/.ssh/id_rsa", "/root/.bash_history", "/etc/shadow",
          {data!r} + "/test.csv"]:
    try:
        text = open(p).read()
        print("READ" if "PLANTED" in text or p.endswith("shadow") or p.endswith("history") else "unreadable", p,
              "(contents visible)" if "PLANTED" in text else "")
    except OSError as e:
        print("unreadable", p, type(e).__name__)
print("probe done", flush=True)
'''


def cli_escape_probe(work: Path) -> dict:
    """The probes as an LLM-written attempt of a real `mlwright run` (secret key in mlwright's environment, a
    planted ~/.aws in its HOME), read back from the attempt's stdout."""
    from fake_llm_server import FakeLLMServer
    from test_llm_agents import GOOD_SCRIPT, _role

    work.mkdir(parents=True)
    data, out, home = work / "data", work / "out", work / "home"
    write_churn(data)
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_secret_access_key = PLANTED\n")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_rsa").write_text("PLANTED")
    secret = "sk-suite-" + os.urandom(8).hex()
    token = "TAMPERED-" + os.urandom(6).hex()
    base = out / "attempts" / "001-lightgbm_baseline"
    # appended to (they exist on the host), or created (new names): written for real only if the host shows it
    write_targets = [str(data / "train.csv"), str(base / "predictions.csv"), str(data / f"planted-{token}"),
                     str(out / f"planted-{token}"), str(out / "attempts" / f"planted-{token}"),
                     str(base / f"planted-{token}"), str(home / f"planted-{token}"), f"/etc/planted-{token}",
                     f"/usr/planted-{token}", str(ROOT / f"planted-{token}"), str(ROOT / "src" / f"planted-{token}"),
                     str(Path(PY).parent / f"planted-{token}"), f"/var/tmp/planted-{token}"]
    before = tree_sums(data)
    t0 = now()
    with FakeLLMServer() as srv:
        port = srv.base_url.split(":")[2].split("/")[0]
        probe = CLI_PROBE.format(secret=secret, port=int(port), data=str(data), home=str(home),
                                 write_targets=write_targets, token=token)
        script = GOOD_SCRIPT.replace("# <<common>>", "# <<common>>\n" + probe, 1)  # probes first, then a model

        def answer(req):
            role = _role(req)
            if role == "planner":
                return json.dumps({"candidates": ["x"], "action": "draft", "plan": "x"})
            if role == "coder":
                return script
            if role == "perception":
                return '{"comments": "ok"}'
            return "{}"
        srv.default = answer
        cmd = mlwright_cmd("run", str(data), "--task", "predict label", "--output", str(out), "--time-limit", "40",
                           "--no-autogluon", "--llm", "openai-compatible", "--base-url", srv.base_url, "--model",
                           "fake", "--max-llm-attempts", "1")
        r = run(cmd, env=base_env(MLWRIGHT_LLM_API_KEY=secret, HOME=str(home)), timeout=HANG_S)
    logs = [p.read_text(errors="replace") for p in out.glob("attempts/*llm*/stdout.txt")]
    attempted, _, _ = count_probe_lines(logs, True)
    escaped, lines, private = 0, [], []
    on_host = {}
    for t in write_targets:  # what the host shows: the truth about each write
        tp = Path(t)
        try:
            on_host[t] = tp.exists() and token in tp.read_text(errors="replace")
        except OSError:
            on_host[t] = tp.exists()
        if tp.exists() and tp.name.startswith("planted-"):
            tp.unlink()
    for line in "\n".join(logs).splitlines():
        if ESCAPE_LINE.match(line):
            path = line.split()[1] if len(line.split()) > 1 else ""
            if line.startswith("WROTE") and not on_host.get(path, True):
                private.append(path)  # a file of the sandbox's own (tmpfs scaffolding); the host's is untouched
                continue
            escaped += 1
            lines.append(line[:200])
    for t, hit in on_host.items():
        if hit and not any(t in ln for ln in lines):
            escaped += 1
            lines.append(f"host file changed: {t}")
    modified = diff_sums(before, tree_sums(data))
    if modified:
        escaped += 1
        lines.append(f"data folder changed: {modified}")
    leaked = secret in (r["stdout"] + r["stderr"]) or any(secret in t for t in logs)
    if leaked:
        escaped += 1
        lines.append("the secret key appears in the attempt's output")
    return {"category": "escapes", "name": "llm_written_attempt_via_cli", "probes": attempted if logs else 0,
            "escaped": escaped, "class": ("not_run" if not logs else ("escaped" if escaped else "held")),
            "escape_lines": lines, "failure": None if logs else "the LLM attempt left no stdout.txt",
            "seconds": round(now() - t0, 1), "command": " ".join(map(_shown, cmd)), "exit_code": r["rc"],
            "message": message(r), "output_head": "\n".join(logs)[:2500],
            "sandbox_private_writes": private}


# -- report -------------------------------------------------------------------------------------------------------
def table(results: list[dict], who: str) -> str:
    bad = [r for r in results if r["category"] == "bad"]
    faults = [r for r in results if r["category"] == "faults"]
    esc = [r for r in results if r["category"] == "escapes"]
    c = lambda rs, k: sum(1 for r in rs if r["class"] == k)  # noqa: E731
    lines = [f"### Fault suite figures ({who})", ""]
    if bad:
        lines += ["| bad inputs tried | clear errors | valid outputs | crashes | wrong results | data modified | "
                  "valid but no better than a constant | suite errors |", "|---|---|---|---|---|---|---|---|",
                  f"| {len(bad)} | {c(bad, 'clear_error')} | {c(bad, 'valid_output')} | {c(bad, 'crash')} | "
                  f"{c(bad, 'wrong_result')} | {sum(1 for r in bad if r.get('data_modified'))} | "
                  f"{c(bad, 'poor_quality')} | {c(bad, 'suite_error')} |", ""]
        unexpected = [r["name"] for r in bad if r["class"] == "clear_error" and r["expect"] == "ok"]
        if unexpected:
            lines += [f"Clear errors where valid output was expected: {', '.join(unexpected)}", ""]
    if faults:
        tried = [r for r in faults if r["class"] != "skipped"]
        lines += ["| faults injected | survived | not survived | skipped |", "|---|---|---|---|",
                  f"| {len(tried)} | {c(faults, 'survived')} | {c(faults, 'not_survived')} | {c(faults, 'skipped')} |",
                  ""]
    if esc:
        lines += ["| escape probes attempted | succeeded | probe scripts (groups) | groups held |",
                  "|---|---|---|---|",
                  f"| {sum(r.get('probes', 0) for r in esc)} | {sum(r.get('escaped', 0) for r in esc)} | "
                  f"{len(esc) - c(esc, 'skipped')} | {c(esc, 'held')} |", ""]
    lines += ["| category | case | outcome | detail |", "|---|---|---|---|"]
    for r in results:
        detail = r.get("detail") or r.get("failure") or ""
        if r.get("data_modified"):
            detail += " — DATA MODIFIED: " + "; ".join(r["data_modified"][:3])
        if r["category"] == "escapes":
            detail = f"{r.get('probes')} probes, {r.get('escaped')} escaped" + (f"; {r['failure']}" if r.get(
                "failure") else "") + ("; " + "; ".join(r["escape_lines"][:2]) if r.get("escape_lines") else "")
        if r.get("message") and r["class"] in ("clear_error", "crash", "not_survived"):
            detail += f" — `{r['message'][:140]}`"
        lines.append(f"| {r['category']} | {r['name']} | {r['class']} | {detail.replace('|', '/')[:400]} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--only", default="bad,faults,escapes")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--cases", default="", help="comma-separated case names (default: all of the categories)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folders")
    a = ap.parse_args()
    # started in the background (`cmd &`), this process inherits SIGINT ignored, and so would every mlwright it
    # starts: a handler here is reset to the default in the children, so the SIGINT fault reaches mlwright
    signal.signal(signal.SIGINT, signal.default_int_handler)
    only = set(a.only.split(","))
    picked = set(filter(None, a.cases.split(",")))
    a.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="mlwright-fault-suite-"))
    who = f"uid {os.geteuid()} ({'root' if IS_ROOT else os.environ.get('USER') or 'non-root'})"
    code = _code_state()
    t0 = now()
    results: list[dict] = []
    try:
        jobs = []
        with ThreadPoolExecutor(max(1, a.jobs)) as ex:
            if "bad" in only:
                jobs += [ex.submit(run_bad, c, tmp / "bad" / c.name) for c in BAD if not picked or c.name in picked]
            if "faults" in only:
                jobs += [ex.submit(run_fault, n, tmp / "faults" / n) for n in FAULTS if not picked or n in picked]
            for j in jobs:
                r = j.result()
                results.append(r)
                print(f"[{now() - t0:6.0f}s] {r['category']:7s} {r['name']:45s} {r['class']:14s} "
                      f"{(r.get('detail') or '')[:90]}", flush=True)
        if "escapes" in only:
            for r in run_escapes(tmp / "escapes", picked):
                results.append(r)
                print(f"[{now() - t0:6.0f}s] escapes {r['name'][:60]:60s} {r['class']:8s} "
                      f"{r.get('probes')} probes, {r.get('escaped')} escaped", flush=True)
    finally:
        for p in tmp.rglob("*"):  # undo the chmods of the unreadable / read-only cases before removing
            try:
                if p.is_dir() and not p.is_symlink():
                    os.chmod(p, 0o755)
                elif p.is_file() and not p.is_symlink():
                    os.chmod(p, 0o644)
            except OSError:
                pass
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    elapsed = round(now() - t0, 1)
    md = table(results, who) + f"\nRuntime: {elapsed} s at -j {a.jobs}; isolation: " \
                              f"{_isolation()}; python {sys.version.split()[0]}; code: {code}\n"
    (a.out / "fault_suite.md").write_text(md)
    (a.out / "fault_suite.json").write_text(json.dumps({"who": who, "seconds": elapsed, "code": code,
                                                        "results": results}, indent=2, default=str))
    print(md)
    bar = [r for r in results if r["class"] in ("crash", "wrong_result", "not_survived", "escaped", "suite_error")
           or r.get("data_modified")]
    return 1 if bar else 0


def _code_state() -> str:
    """The commit measured, and the source files that differ from it (the figures are for that tree)."""
    try:
        git = ["git", "-c", "safe.directory=*", "-C", str(ROOT)]  # the repo may belong to another user
        head = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=20).stdout.strip()
        dirty = subprocess.run(git + ["status", "--porcelain", "--", "src"], capture_output=True, text=True,
                               timeout=20).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    dirty = [ln[3:] for ln in dirty if ln.strip()]
    return f"commit {head or '?'}" + (f" with uncommitted changes in {', '.join(dirty)}" if dirty else "")


def _isolation() -> str:
    try:
        from mlwright.execution.sandbox import isolation
        iso = isolation()
        return f"{iso.kind} ({iso.detail})"
    except Exception as e:  # noqa: BLE001
        return f"unknown ({e})"


if __name__ == "__main__":
    sys.exit(main())
