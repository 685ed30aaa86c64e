"""Attempts on a real Ray cluster on loopback (token authentication on), inside a network namespace of its own
(Ray listens on every interface otherwise); tests/ray_cluster_scenario.py drives it and this module checks what it
saw: nodes that cannot isolate attempts get none, the sandbox holds on a worker, timeouts and lost nodes leave no
processes behind, the run's attempts give byte-identical outputs to a local run, attempts run side by side
(AutoGluon included, with Ray importable), a killed driver takes its attempt with it and the run resumes on the
cluster, and an unreachable cluster or a driver without the token is a clear error."""
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
pytest.importorskip("autogluon.tabular", reason="needs the autogluon extra")
pytestmark = pytest.mark.slow


def _netns_prefix() -> list[str]:
    """unshare --net (as root) or with a user namespace; skip where neither works."""
    if not shutil.which("unshare"):
        pytest.skip("no unshare: cannot make a loopback-only network namespace")
    for prefix in (["unshare", "--net"], ["unshare", "--user", "--map-root-user", "--net"]):
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    pytest.skip("network namespaces are not available here")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ray")
    data = split_write(make_classification_frame(), tmp / "churn", "label")
    cmd = [*_netns_prefix(), "bash", "-c", f"ip link set lo up && exec {sys.executable} "
           f"{ROOT / 'tests' / 'ray_cluster_scenario.py'} {data} {tmp}"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=1500)
    finally:  # whatever happened, nothing of the cluster or the runs outlives the test
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert p.returncode == 0, err[-5000:]
    return json.loads(out.strip().splitlines()[-1])


def test_a_node_that_cannot_isolate_attempts_gets_none(scenario):
    only = scenario["executor"]["only_unfit"]
    assert only["rc"] != 0 and "no node of the Ray cluster can isolate attempts" in only["stderr"]
    assert len(only["unfit"]) == 1 and "gets no attempts" in only["notes"][0] and "MLWRIGHT_SANDBOX" in only["notes"][0]
    probe = scenario["executor"]["probe"]
    assert probe["rc"] == 0 and probe["node"] == probe["good_node"] != probe["unfit_node"]


def test_the_sandbox_holds_on_a_worker(scenario):
    from mlwright.execution.sandbox import _ALLOWED_ENV

    probe = scenario["executor"]["probe"]
    assert probe["isolation"] == "bubblewrap" and probe["reached_head"] is False  # the cluster is out of reach
    extra = set(probe["env"]) - _ALLOWED_ENV - {"HOME", "TMPDIR", "PYTHONUNBUFFERED", "MPLBACKEND",
                                                "PYTHONDONTWRITEBYTECODE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                                                "AUTOGLUON_TELEMETRY", "NO_PROXY", "PWD", "LC_CTYPE", "_"}
    assert not extra, extra  # no RAY_AUTH_TOKEN, no RAY_* at all
    assert not any(k.startswith("RAY") for k in probe["env"])


def test_timeouts_and_lost_nodes_leave_nothing_behind(scenario):
    t, lost = scenario["executor"]["timeout"], scenario["executor"]["lost"]
    assert t["timed_out"] and t["seconds"] < 30 and t["leftovers"] == []
    assert lost["started"] and "infrastructure failure on the Ray cluster" in (lost["infrastructure"] or "")
    assert lost["leftovers"] == []


def test_a_run_on_the_cluster_matches_a_local_run(scenario):
    remote, local = scenario["remote"], scenario["local"]
    assert remote["rc"] == 0 and remote["status"] == "succeeded", remote["stderr"]
    assert remote["executor"].startswith("ray cluster at 127.0.0.1:") and local["executor"] == "local"
    # the same attempts on the worker node and here: byte-identical predictions and out-of-fold predictions
    assert remote["first_attempt_predictions"] == local["first_attempt_predictions"] is not None
    assert remote["first_attempt_oof"] == local["first_attempt_oof"] is not None
    assert remote["attempts"] == local["attempts"] and remote["best"] == local["best"]
    assert remote["predictions"] == local["predictions"] is not None


def test_attempts_run_side_by_side_on_the_cluster_autogluon_included(scenario):
    par = scenario["parallel"]
    assert par["rc"] == 0 and par["status"] == "succeeded", par["stderr"]
    (a1, r1, s1, t01, t11, _), (a2, r2, s2, t02, t12, e2) = par["rows"][:2]
    assert (r1, s1, r2, s2) == ("lightgbm_baseline", "succeeded", "autogluon_tabular", "succeeded"), e2
    assert t01 < t12 and t02 < t11  # at the same time


def test_a_killed_driver_takes_its_attempt_with_it_and_the_run_resumes_on_the_cluster(scenario):
    assert scenario["killed_while_running"]
    assert scenario["killed_leftovers"] == []
    res = scenario["resumed"]
    assert res["rc"] == 0 and res["status"] == "succeeded", res["stderr"]
    assert any("interrupted" in (row[5] or "") for row in res["rows"])  # the attempt the kill cut short
    assert res["executor"].startswith("ray cluster at")


def test_an_unreachable_cluster_or_a_driver_without_the_token_is_a_clear_error(scenario):
    bad, no_token = scenario["unreachable"], scenario["no_token"]
    assert bad["rc"] != 0 and "Cannot connect to the Ray cluster" in bad["stderr"]
    assert no_token["rc"] != 0 and "Cannot connect to the Ray cluster" in no_token["stderr"], no_token["stderr"]


def test_a_batch_on_the_cluster_admits_runs_as_their_envelopes_are_placed(scenario):
    b = scenario["batch"]
    assert b["rc"] == 0, b["stderr"]
    rows = {r["task"]: r for r in b["rows"]}
    assert {t: r["status"] for t, r in rows.items()} == {"a": "succeeded", "b": "succeeded", "c": "succeeded"}
    (a0, a1), (b0, b1), (c0, c1) = (b["spans"][t] for t in "abc")
    assert a0 < b1 and b0 < a1  # two envelopes on the worker: a and b at once
    assert c0 >= min(a1, b1) - 1  # c started once one of them had ended
    assert rows["c"]["queued_seconds"] > 0 and rows["a"]["queued_seconds"] < 10


def test_the_servers_launcher_admits_runs_as_their_envelopes_are_placed(scenario):
    got = scenario["launcher"]
    assert got["final"] == ["succeeded"] * 3
    assert got["max_running"] == 2 and got["third_waited"]
