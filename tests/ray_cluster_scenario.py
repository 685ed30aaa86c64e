"""Run inside a loopback-only network namespace (tests/test_ray_cluster.py starts it): a Ray cluster with token
authentication on (the head takes no tasks), then
1. the executor itself: a node that cannot isolate attempts gets none (and the run is told), an attempt's sandbox
   on a worker (allow-listed environment only, the cluster's ports unreachable), a remote timeout with no
   orphans, a node lost mid-attempt reported as an infrastructure failure;
2. `mlwright run` locally and with --ray-address (same attempts, best attempt and predictions), two attempts side
   by side with AutoGluon on a worker, a driver killed mid-attempt (no orphans) and resumed on the cluster, an
   unreachable address and a driver without the token refused;
and prints what the test compares as JSON on the last line."""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

# token auth on for the cluster and every driver started from here; set before Ray is imported (it reads it then)
os.environ["RAY_AUTH_MODE"] = "token"
os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(16)

from ray.cluster_utils import Cluster  # noqa: E402

MARK = "mlwright-scenario-marker"  # in the command line of every probe process: what "no orphans" looks for

PROBE = f'''
import json, os, socket, sys
port = int(sys.argv[1])
s = socket.socket()
s.settimeout(3)
try:
    s.connect(("127.0.0.1", port))
    reached = True
except OSError:
    reached = False
json.dump({{"env": sorted(os.environ), "reached_head": reached}}, open("probe.json", "w"))
# {MARK}
'''


def run(data: Path, out: Path, *extra: str, env: dict | None = None, limit: str = "60") -> dict:
    r = subprocess.run([sys.executable, "-m", "mlwright", "run", str(data), "--task", "predict label as the "
                        "probability of yes", "--output", str(out), "--time-limit", limit, *extra],
                       capture_output=True, text=True, timeout=400, env=env)
    return summarize(out, r.returncode, r.stderr)


def summarize(out: Path, rc: int, stderr: str) -> dict:
    s = json.loads((out / "run.json").read_text()) if (out / "run.json").is_file() else {}
    first = sorted((out / "attempts").glob("001-*"))
    rows = []
    if (out / "journal.sqlite").is_file():
        with sqlite3.connect(out / "journal.sqlite") as con:
            rows = con.execute("SELECT attempt_id, recipe, status, started_at, ended_at, error FROM attempts "
                               "ORDER BY attempt_id").fetchall()
            events = [m for (m,) in con.execute("SELECT message FROM events")]
    else:
        events = []
    return {"rc": rc, "stderr": stderr[-2000:], "status": s.get("status"),
            "executor": (s.get("sandbox") or {}).get("executor"), "best": (s.get("best") or {}).get("recipe"),
            "first_attempt_predictions": digest(first[0] / "predictions.csv") if first else None,
            "first_attempt_oof": digest(first[0] / "oof_predictions.csv") if first else None,
            "predictions": digest(out / "predictions.csv"), "rows": rows, "events": events,
            "attempts": [p.name for p in sorted((out / "attempts").glob("*"))] if (out / "attempts").is_dir() else []}


def digest(p: Path):
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None


def leftovers() -> list[str]:
    """Processes of probes or attempts still alive (none may outlive their attempt)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if (MARK in cmd or "solution.py fit" in cmd) and p.pid != os.getpid():
            found.append(cmd[:200])
    return found


def attempt_running(out: Path, recipe: str) -> bool:
    try:
        with sqlite3.connect(out / "journal.sqlite") as con:
            return bool(con.execute("SELECT 1 FROM attempts WHERE recipe = ? AND status = 'running'",
                                    (recipe,)).fetchone())
    except sqlite3.Error:
        return False


def add_node(cluster: Cluster, **env: str):
    """A worker node (2 CPUs) whose processes see `env` (a node set up differently)."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return cluster.add_node(num_cpus=2)
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def executor_checks(cluster: Cluster, work: Path) -> dict:
    import ray

    from mlwright.execution.ray_executor import RayExecutor

    unfit = add_node(cluster, MLWRIGHT_SANDBOX="basic")  # bubblewrap off on this node: it cannot isolate
    ex = RayExecutor(cluster.address)
    try:
        return probe_executor(cluster, ex, unfit, work)
    finally:
        ray.shutdown()


def probe_executor(cluster: Cluster, ex, unfit, work: Path) -> dict:
    from mlwright.execution.executor import AttemptJob

    got: dict = {}
    notes: list[str] = []
    ex.notify = notes.append
    port = int(cluster.address.rsplit(":", 1)[1])

    def job(name: str, code: str, timeout: float = 60) -> tuple[AttemptJob, Path]:
        d = work / "exec" / name
        d.mkdir(parents=True)
        (d / "probe.py").write_text(code)
        return AttemptJob([sys.executable, "probe.py", str(port), MARK], d, timeout_s=timeout), d

    j, d = job("only-unfit", PROBE)
    res = ex.run(j)
    got["only_unfit"] = {"rc": res.returncode, "stderr": res.stderr_path.read_text(), "notes": list(notes),
                         "unfit": list(ex.unfit)}
    good = add_node(cluster)
    j, d = job("probe", PROBE)
    res = ex.run(j)
    got["probe"] = {"rc": res.returncode, "isolation": res.isolation, "node": ex.nodes[-1],
                    "good_node": good.node_id, "unfit_node": unfit.node_id,
                    **(json.loads((d / "probe.json").read_text()) if (d / "probe.json").is_file() else {})}
    j, d = job("timeout", f"import time\ntime.sleep(120)  # {MARK}\n", timeout=3)
    res = ex.run(j)
    time.sleep(2)
    got["timeout"] = {"timed_out": res.timed_out, "seconds": res.seconds, "leftovers": leftovers()}
    # a node lost mid-attempt: the attempt is an infrastructure failure, and nothing of it stays behind
    j, d = job("lost", f"import time\ntime.sleep(60)  # {MARK}\n")
    box: dict = {}
    t = threading.Thread(target=lambda: box.setdefault("res", ex.run(j)))
    t.start()
    deadline = time.time() + 60
    while not leftovers() and time.time() < deadline:
        time.sleep(0.2)
    started = bool(leftovers())
    cluster.remove_node(good, allow_graceful=False)
    t.join(timeout=120)
    time.sleep(3)
    res = box.get("res")
    got["lost"] = {"started": started, "infrastructure": res.infrastructure if res else "no result",
                   "leftovers": leftovers()}
    return got


def launcher_checks(data: Path, work: Path, addr: str) -> dict:
    """The web UI's and MCP's launcher on the cluster: three runs queued at once, 1-CPU envelopes on a 2-CPU
    worker: at most two run at a time and the third waits, queued (its clock not started), until one ends."""
    from mlwright.execution.admission import RayEnvelopes
    from mlwright.runs_manager import RunManager

    m = RunManager(work / "ui-runs", [data.parent], max_concurrent=100, extra_args=("--no-autogluon",),
                   admission=RayEnvelopes(addr, 1, 1.0, None))
    try:
        ids = [m.start(data, "predict label as the probability of yes", time_limit=30).run_id for _ in range(3)]
        seen: list[list[str]] = []
        deadline = time.time() + 300
        while time.time() < deadline:
            seen.append([m.status(i)["status"] for i in ids])
            if all(s not in ("queued", "running") for s in seen[-1]):
                break
            time.sleep(0.2)
    finally:
        m.shutdown()
    return {"final": seen[-1], "max_running": max(s.count("running") for s in seen),
            "third_waited": any(s == ["running", "running", "queued"] for s in seen)}


def main() -> None:
    data, work = Path(sys.argv[1]), Path(sys.argv[2])
    cluster = Cluster(initialize_head=True, connect=False, head_node_args={"num_cpus": 0, "include_dashboard": False})
    out: dict = {}
    try:
        out["executor"] = executor_checks(cluster, work)
        add_node(cluster)  # the worker the runs use (the one above was lost)
        addr = cluster.address
        out["remote"] = run(data, work / "ray", "--no-autogluon", "--ray-address", addr)
        out["local"] = run(data, work / "local", "--no-autogluon")
        out["parallel"] = run(data, work / "parallel", "--ray-address", addr, "--parallel-attempts", "2")
        # a driver killed while its attempt runs on the worker: the attempt goes with it; resume on the cluster
        killed = work / "killed"
        p = subprocess.Popen([sys.executable, "-m", "mlwright", "run", str(data), "--task", "predict label",
                              "--output", str(killed), "--time-limit", "90", "--ray-address", addr],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and not attempt_running(killed, "autogluon_tabular"):
            time.sleep(0.2)
        time.sleep(8)  # well inside AutoGluon's fit
        out["killed_while_running"] = attempt_running(killed, "autogluon_tabular")
        p.send_signal(signal.SIGKILL)
        p.wait()
        time.sleep(8)
        out["killed_leftovers"] = leftovers()
        r = subprocess.run([sys.executable, "-m", "mlwright", "resume", str(killed), "--ray-address", addr],
                           capture_output=True, text=True, timeout=400)
        out["resumed"] = summarize(killed, r.returncode, r.stderr)
        # a batch on the cluster: three runs, envelopes of one CPU on a 2-CPU worker: two at once, the third
        # admitted when one ends (its clock starts then)
        tasks = work / "tasks"
        for name in ("a", "b", "c"):
            (tasks / name).mkdir(parents=True)
            (tasks / name / "data").symlink_to(data)
            (tasks / name / "description.md").write_text("Predict label as the probability of yes.")
        b = subprocess.run([sys.executable, "-m", "mlwright", "batch", str(tasks), "--output", str(work / "batch"),
                            "--time-limit", "30", "--no-autogluon", "--parallel", "auto", "--ray-address", addr],
                           capture_output=True, text=True, timeout=600)
        rows = json.loads((work / "batch" / "batch.json").read_text()) if (work / "batch" / "batch.json").is_file() \
            else []
        spans = {}
        for r in rows:
            with sqlite3.connect(Path(r["run_dir"]) / "journal.sqlite") as con:
                spans[r["task"]] = con.execute("SELECT MIN(ts), MAX(ts) FROM events").fetchone()
        out["batch"] = {"rc": b.returncode, "stderr": b.stderr[-2000:], "rows": rows, "spans": spans}
        out["launcher"] = launcher_checks(data, work, addr)
        out["unreachable"] = run(data, work / "unreachable", "--no-autogluon", "--ray-address", "127.0.0.1:1")
        no_token = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_TOKEN", "RAY_AUTH_MODE")}
        out["no_token"] = run(data, work / "no-token", "--no-autogluon", "--ray-address", addr, env=no_token)
    finally:
        cluster.shutdown()
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
