"""Where an attempt's script runs. The search loop hands an `AttemptJob` (the script's folder, its command line,
the inputs it may read, its limits) to an `AttemptExecutor` and gets an `ExecResult` back; nothing above this
interface knows about processes. `LocalSandbox` (bubblewrap, cgroups, no network: execution/sandbox.py) is the
implementation every run uses today; a cluster executor runs the same job elsewhere."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Protocol, Sequence

from mlwright.execution.limits import default_memory_mb, share_env
from mlwright.execution.sandbox import ExecResult, run_sandboxed


@dataclass
class AttemptJob:
    command: Sequence[str]  # run in `workdir`, which holds the script; stdout.txt / stderr.txt are written there
    workdir: Path
    timeout_s: float
    read_only: list[Path | str] = field(default_factory=list)  # the inputs the script may read, nothing else
    memory_mb: Optional[float] = None  # None: the executor's default cap
    on_start: Optional[Callable[[dict], None]] = None  # how to find the process again if mlwright dies
    share: float = 1.0  # of the machine's cores and memory: 1 / the attempts running side by side
    env: dict[str, str] = field(default_factory=dict)  # added to the scrubbed environment (never keys)


class AttemptExecutor(Protocol):
    def run(self, job: AttemptJob) -> ExecResult:
        """Run the job to its end (or its limits) and say how it ended; never raises for the script's failures."""
        ...


class LocalSandbox:
    """Each attempt in the local sandbox: no network, no keys, the inputs read-only, memory/process/time caps."""

    def run(self, job: AttemptJob) -> ExecResult:
        memory_mb, env = job.memory_mb, dict(job.env)
        if job.share < 1:  # side by side with other attempts: its share of the cores and of the memory
            env |= share_env(job.share)
            memory_mb = memory_mb or default_memory_mb() * job.share
        return run_sandboxed(job.command, job.workdir, timeout_s=job.timeout_s, memory_mb=memory_mb,
                             ro_paths=job.read_only, on_start=job.on_start, env_extra=env)
