"""Attempts on a real two-node Ray cluster on loopback, inside a network namespace of its own (Ray listens on
every interface otherwise): the run's attempts execute on the worker node through the unchanged sandbox and give
byte-identical outputs to a local run; an unreachable cluster is a clear error."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, make_classification_frame, split_write

pytest.importorskip("ray", reason="needs the ray extra: pip install -e '.[ray]'")
pytestmark = pytest.mark.slow


def _netns_prefix() -> list[str]:
    """unshare --net (as root) or with a user namespace; skip where neither works."""
    if not shutil.which("unshare"):
        pytest.skip("no unshare: cannot make a loopback-only network namespace")
    for prefix in (["unshare", "--net"], ["unshare", "--user", "--map-root-user", "--net"]):
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    pytest.skip("network namespaces are not available here")


def test_attempts_run_on_a_ray_worker_with_identical_outputs(tmp_path):
    data = split_write(make_classification_frame(), tmp_path / "churn", "label")
    cmd = [*_netns_prefix(), "bash", "-c", f"ip link set lo up && exec {sys.executable} "
           f"{ROOT / 'tests' / 'ray_cluster_scenario.py'} {data} {tmp_path}"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=600)
    finally:  # whatever happened, nothing of the cluster or the runs outlives the test
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert p.returncode == 0, err[-3000:]
    got = json.loads(out.strip().splitlines()[-1])
    remote, local, bad = got["remote"], got["local"], got["unreachable"]
    assert remote["rc"] == 0 and remote["status"] == "succeeded", remote["stderr"]
    assert remote["executor"].startswith("ray cluster at 127.0.0.1:") and local["executor"] == "local"
    # the same attempt on the worker node and here: byte-identical predictions and out-of-fold predictions
    assert remote["first_attempt_predictions"] == local["first_attempt_predictions"] is not None
    assert remote["first_attempt_oof"] == local["first_attempt_oof"] is not None
    assert remote["attempts"][0] == local["attempts"][0]
    assert bad["rc"] != 0 and "Cannot connect to the Ray cluster" in bad["stderr"]
