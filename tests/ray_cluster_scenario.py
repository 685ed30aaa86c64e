"""Run inside a loopback-only network namespace (tests/test_ray_cluster.py starts it): a two-node Ray cluster
(the head takes no tasks, so every attempt runs on the worker node), the same task run locally and with
--ray-address, and what the test compares printed as JSON on the last line."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from ray.cluster_utils import Cluster


def run(data: Path, out: Path, *extra: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "mlwright", "run", str(data), "--task", "predict label as the "
                        "probability of yes", "--output", str(out), "--time-limit", "60", "--no-autogluon", *extra],
                       capture_output=True, text=True, timeout=400)
    s = json.loads((out / "run.json").read_text()) if (out / "run.json").is_file() else {}
    first = sorted((out / "attempts").glob("001-*"))
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None  # noqa: E731
    return {"rc": r.returncode, "stderr": r.stderr[-2000:], "status": s.get("status"),
            "executor": (s.get("sandbox") or {}).get("executor"), "best": (s.get("best") or {}).get("recipe"),
            "first_attempt_predictions": digest(first[0] / "predictions.csv") if first else None,
            "first_attempt_oof": digest(first[0] / "oof_predictions.csv") if first else None,
            "attempts": [p.name for p in sorted((out / "attempts").glob("*"))] if (out / "attempts").is_dir() else []}


def main() -> None:
    data, work = Path(sys.argv[1]), Path(sys.argv[2])
    cluster = Cluster(initialize_head=True, connect=False,
                      head_node_args={"num_cpus": 0, "include_dashboard": False})
    cluster.add_node(num_cpus=2)
    try:
        remote = run(data, work / "ray", "--ray-address", cluster.address)
        local = run(data, work / "local")
        bad = run(data, work / "unreachable", "--ray-address", "127.0.0.1:1")
    finally:
        cluster.shutdown()
    print(json.dumps({"remote": remote, "local": local, "unreachable": bad}))


if __name__ == "__main__":
    main()
