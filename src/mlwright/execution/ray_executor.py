"""Attempts on a Ray cluster (`mlwright run ... --ray-address ADDRESS`). The driver keeps the run folder, the
journal, validation and every LLM call; each attempt becomes a Ray task that unpacks the attempt's folder and its
read-only inputs into node-local scratch, runs the unchanged local sandbox there (the inputs bound read-only at
the paths the script names, so nothing in the script changes), and sends the folder back, which the driver unpacks
where a local attempt would have written it. Inputs travel through Ray's object store once per run. A lost node
fails the attempt as an infrastructure failure (the runner retries the identical script once); a task past its
deadline is cancelled."""
from __future__ import annotations

import io
import logging
import os
import shutil
import socket
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from mlwright.errors import MlwrightError
from mlwright.execution.executor import AttemptJob
from mlwright.execution.limits import THREAD_VARS
from mlwright.execution.sandbox import ExecResult

NAMESPACE = "mlwright"  # runs and batches meet in it: a run finds the placement group its batch made by name
DEADLINE_SLACK_S = 120.0  # the node's own sandbox timeout comes first; this only catches a task that hangs


def pack(path: Path) -> bytes:
    """A file or folder as gzip'd tar bytes (links kept as links, never followed)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        tar.add(str(path), arcname="." if Path(path).is_dir() else Path(path).name, recursive=True)
    return buf.getvalue()


def unpack(blob: bytes, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        tar.extractall(dest, filter="tar")  # no absolute names, no `..`, no devices


def _remote_attempt(work_blob: bytes, inputs: dict[str, tuple[bool, Any]], command: list[str], timeout_s: float,
                    memory_mb: Optional[float], threads: dict[str, str], env: dict[str, str],
                    share: float = 1.0) -> tuple[Optional[bytes], dict]:
    """On the node: unpack, run in the local sandbox, pack the folder. `inputs`: original path -> (a folder?,
    its packed bytes in the object store). A node that cannot isolate the attempt (no bubblewrap, so no private
    network) runs nothing and says why: (None, {"unfit": why, "node": its id})."""
    import ray

    from mlwright.execution.limits import default_memory_mb, share_env, thread_env, usable_cores
    from mlwright.execution.sandbox import run_sandboxed

    node = ray.get_runtime_context().get_node_id()
    unfit = _node_isolation()
    if unfit:
        return None, {"unfit": unfit, "node": node}
    env = thread_env(threads) | env
    if share < 1:  # side by side with the run's other attempts: a share of this node (unless the driver set it)
        env |= {v: n for v, n in share_env(share, usable_cores()).items() if v not in threads}
        memory_mb = memory_mb or default_memory_mb() * share
    scratch = Path(tempfile.mkdtemp(prefix="mlwright-attempt-"))
    try:
        work = scratch / "work"
        unpack(work_blob, work)
        mounts = {}
        for i, (orig, (is_dir, ref)) in enumerate(inputs.items()):
            dest = scratch / f"input-{i}"
            unpack(ray.get(ref), dest)  # refs inside a dict are not resolved by Ray itself
            mounts[orig] = str(dest if is_dir else dest / Path(orig).name)
        # the driver's thread settings, else this node's cores (not the OMP_NUM_THREADS=1 Ray gives its workers)
        res = run_sandboxed(command, work, timeout_s=timeout_s, memory_mb=memory_mb, mounts=mounts, env_extra=env)
        info = {k: getattr(res, k) for k in ("returncode", "seconds", "timed_out", "killed_for_memory",
                                             "peak_memory_mb", "killed_for_processes", "memory_limit_mb",
                                             "isolation")}
        info["node"] = node
        return pack(work), info
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _node_isolation() -> Optional[str]:
    """On a node: None when it can isolate attempts (bubblewrap, private network), else why not."""
    from mlwright.execution.sandbox import isolation

    iso = isolation()
    return None if iso.kind == "bubblewrap" and iso.network_isolated else iso.detail


def cpu_nodes(ray: Any) -> list[dict]:
    """The live nodes of the cluster that have CPUs (a head started with --num-cpus 0 runs no attempt)."""
    return [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]


def connect(address: str) -> Any:
    """The `ray` module, connected to the cluster at `address` (in mlwright's namespace); clear errors when Ray
    is missing or the cluster cannot be reached."""
    try:
        import ray
    except ImportError as e:
        raise MlwrightError("--ray-address needs Ray: pip install \"mlwright[ray]\"",
                            hint="Or run without --ray-address (attempts run on this machine).") from e
    reachable(address)
    try:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, logging_level=logging.ERROR,
                 namespace=NAMESPACE)
    except Exception as e:  # noqa: BLE001 - an unreachable cluster is the user's to fix: say so
        raise MlwrightError(f"Cannot connect to the Ray cluster at {address}: {type(e).__name__}: {e}",
                            hint="Check the address (ray status on the head node prints it) and that this "
                                 "machine can reach the head.") from e
    return ray


def probe_nodes(ray: Any, known: dict[str, Optional[str]]) -> dict[str, Optional[str]]:
    """`known` with every live CPU node not probed yet added: node id -> None (it can isolate attempts) or why
    not. Each probe is a zero-CPU task pinned to its node, so a busy node answers too."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(_node_isolation)
    new = [n["NodeID"] for n in cpu_nodes(ray) if n["NodeID"] not in known]
    refs = [probe.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote()
            for n in new]
    for n, ref in zip(new, refs):
        try:
            known[n] = ray.get(ref, timeout=120)
        except Exception as e:  # noqa: BLE001 - a node that cannot answer cannot run attempts either
            known[n] = f"the isolation probe failed: {type(e).__name__}: {str(e)[:200]}"
    return known


def reachable(address: str, timeout_s: float = 5.0) -> None:
    """A HOST:PORT (or ray://HOST:PORT) address must answer a TCP connect within seconds: ray.init itself keeps
    retrying an unreachable head for minutes. `auto` (the cluster this machine belongs to) is left to Ray."""
    if address == "auto":
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise MlwrightError(f"Not a Ray cluster address: {address!r}",
                            hint="Give auto, HOST:PORT (the head's GCS port, 6379 by default) or ray://HOST:10001.")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise MlwrightError(f"Cannot connect to the Ray cluster at {address}: {e}",
                            hint="Check the address (`ray status` on the head prints it) and that this machine can "
                                 "reach the head.") from e


class RayExecutor:
    """An AttemptExecutor whose attempts run as Ray tasks (one CPU each unless `num_cpus` says otherwise), inside
    the run's placement group when `mlwright batch` reserved one for it (its envelope: the attempts never wait for
    a CPU, so no attempt's budget is spent queueing)."""

    def __init__(self, address: str, num_cpus: float = 1.0, placement_group: Optional[str] = None):
        self.ray = ray = connect(address)
        self.placement: dict[str, Any] = {}
        if placement_group:
            from ray.util import get_placement_group
            from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

            try:
                pg = get_placement_group(placement_group)
            except ValueError as e:
                raise MlwrightError(f"No placement group {placement_group!r} on the Ray cluster at {address}",
                                    hint="It is made by `mlwright batch` for each run it starts; run without "
                                         "--ray-placement-group.") from e
            self.placement = {"scheduling_strategy": PlacementGroupSchedulingStrategy(pg)}
        self.remote_attempt = ray.remote(_remote_attempt)
        self.num_cpus = num_cpus
        self.shipped: dict[tuple[str, float, int], Any] = {}  # (path, mtime, size) -> ObjectRef
        self.shipping = threading.Lock()  # attempts side by side ship the same inputs once
        self.nodes: list[str] = []  # where each attempt ran, in order
        self.unfit: dict[str, str] = {}  # node id -> why it gets no attempts (it cannot isolate them)
        self.in_flight: set[Any] = set()  # the tasks running now (a cancel stops them all)
        self.notify: Callable[[str], None] = lambda message: None  # the run's journal, once the run sets it

    def _ship(self, path: str) -> Any:
        st = os.stat(path)
        key = (path, st.st_mtime, st.st_size)
        with self.shipping:
            if key not in self.shipped:  # each input once per run (and again only if it changed)
                self.shipped[key] = self.ray.put(pack(Path(path)))
            return self.shipped[key]

    def run(self, job: AttemptJob) -> ExecResult:
        workdir = Path(job.workdir).absolute()
        inputs = {str(Path(p).absolute()): (os.path.isdir(p), self._ship(str(Path(p).absolute())))
                  for p in job.read_only if os.path.exists(p)}
        t0 = time.time()
        threads = {v: os.environ[v] for v in THREAD_VARS if os.environ.get(v)}
        if self.placement and not threads:  # inside an envelope: as many threads as the CPUs the task holds
            threads = {v: str(max(1, int(self.num_cpus))) for v in THREAD_VARS}
        blob: Optional[bytes] = None
        while blob is None:
            if not self.fit_nodes():
                why = "; ".join(f"node {n[:12]}: {w}" for n, w in self.unfit.items())
                return self._failure(workdir, t0, f"no node of the Ray cluster can isolate attempts ({why})")
            if self.unfit and self.placement:  # the envelope was placed on a node that cannot run attempts
                return self._failure(workdir, t0, "the run's placement group is on a node that cannot isolate "
                                                  f"attempts ({'; '.join(self.unfit.values())})")
            where = {"label_selector": {"ray.io/node-id": "!in(" + ",".join(self.unfit) + ")"}} if self.unfit \
                else self.placement
            # a lost node fails the task at once (no retry by Ray): the runner decides what to rerun, and journals it
            task = self.remote_attempt.options(num_cpus=self.num_cpus, max_retries=0, retry_exceptions=False, **where)
            ref = task.remote(pack(workdir), inputs, list(job.command), job.timeout_s, job.memory_mb, threads,
                              job.env, job.share)
            self.in_flight.add(ref)
            try:
                blob, info = self.ray.get(ref, timeout=job.timeout_s + DEADLINE_SLACK_S)
            except self.ray.exceptions.GetTimeoutError:
                self.ray.cancel(ref, force=True)
                return self._failure(workdir, t0, f"the Ray task did not return within {job.timeout_s:.0f}s "
                                                  f"+ {DEADLINE_SLACK_S:.0f}s; cancelled", timed_out=True)
            except self.ray.exceptions.RayError as e:  # a lost node, a dead worker
                return self._failure(workdir, t0, f"infrastructure failure on the Ray cluster: {type(e).__name__}: "
                                                  f"{str(e)[:500]}", infrastructure=True)
            except BaseException:  # a cancel: the task goes too
                self.ray.cancel(ref, force=True)
                raise
            finally:
                self.in_flight.discard(ref)
            if blob is None:  # that node cannot isolate attempts: never again, and say so in the run's journal
                self.unfit[info["node"]] = info["unfit"]
                self.notify(f"Ray node {info['node'][:12]} gets no attempts: it cannot isolate them "
                            f"({info['unfit']})")
        for child in workdir.iterdir():  # the folder as the node left it
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        unpack(blob, workdir)
        self.nodes.append(info.pop("node"))
        return ExecResult(stdout_path=workdir / "stdout.txt", stderr_path=workdir / "stderr.txt", **info)

    def cancel_all(self) -> None:
        """Stop every task this run has running (the run is being cancelled)."""
        for ref in list(self.in_flight):
            self.ray.cancel(ref, force=True)

    def fit_nodes(self) -> list[str]:
        """The live nodes with CPUs that have not shown they cannot isolate attempts."""
        return [n["NodeID"] for n in cpu_nodes(self.ray) if n["NodeID"] not in self.unfit]

    @staticmethod
    def _failure(workdir: Path, t0: float, why: str, timed_out: bool = False,
                 infrastructure: bool = False) -> ExecResult:
        (workdir / "stderr.txt").write_text(f"error: {why}\n")
        (workdir / "stdout.txt").touch()
        return ExecResult(returncode=None if timed_out else -1, seconds=time.time() - t0, timed_out=timed_out,
                          killed_for_memory=False, peak_memory_mb=0.0, stdout_path=workdir / "stdout.txt",
                          stderr_path=workdir / "stderr.txt", isolation="ray",
                          infrastructure=why if infrastructure else None)
