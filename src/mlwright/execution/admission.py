"""When a run may start: admission of many runs (`mlwright batch`, the web UI and MCP launcher) so that no run's
clock ticks while it waits for resources. On one machine, N runs at a time sharing its cores (`LocalSlots`); on a
Ray cluster, a placement group per run (`RayEnvelopes`: one bundle per attempt slot, only on nodes that can
isolate attempts), the run starting once the cluster has placed it. `try_acquire` never blocks (the launcher asks
again later); `acquire` waits (batch)."""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

from mlwright.errors import MlwrightError


@dataclass
class Ticket:
    """A run's admission: what its `mlwright run` gets (arguments, environment) and what to free afterwards."""
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    handle: Any = None


class LocalSlots:
    """`parallel` runs at a time on this machine, each with 1/parallel of its cores (thread counts)."""

    def __init__(self, parallel: int):
        from mlwright.execution.limits import THREAD_VARS, usable_cores

        self.parallel = max(1, parallel)
        self.free = threading.Semaphore(self.parallel)
        share = max(1, usable_cores() // self.parallel)
        self.env = {v: str(share) for v in THREAD_VARS} if self.parallel > 1 else {}

    def try_acquire(self, name: str) -> Optional[Ticket]:
        return Ticket(env=dict(self.env)) if self.free.acquire(blocking=False) else None

    def acquire(self, name: str) -> Ticket:
        self.free.acquire()
        return Ticket(env=dict(self.env))

    def release(self, ticket: Ticket) -> None:
        self.free.release()

    def forget(self, name: str) -> None:
        pass

    def close(self) -> None:
        pass


class RayEnvelopes:
    """Runs on a Ray cluster, each in a placement group of `slots` bundles of `cpus` CPUs (its envelope), admitted
    as the cluster places them; `parallel` caps how many run at once (None: as many as fit)."""

    WAIT_ALONE_S = 120.0  # with nothing running, an envelope not placed by then never will be

    def __init__(self, address: str, slots: int, cpus: float, parallel: Optional[int]):
        from mlwright.execution.ray_executor import connect, cpu_nodes

        ray = connect(address)
        self.ray, self.address, self.slots, self.cpus, self.parallel = ray, address, slots, cpus, parallel
        self.batch_id = uuid.uuid4().hex[:8]
        self.running = 0
        # run name -> (placement group, its name, asked at, the ref that resolves once it is placed)
        self.pending: dict[str, tuple[Any, str, float, Any]] = {}
        self.nodes: dict[str, Optional[str]] = {}  # node id -> None (it can isolate attempts) or why not
        self.lock = threading.Lock()
        biggest = max((n["Resources"]["CPU"] for n in cpu_nodes(ray)), default=0)
        if biggest < cpus:
            raise MlwrightError(f"No node of the Ray cluster at {address} has {cpus:g} CPUs for one attempt.",
                                hint="Lower --ray-cpus-per-attempt or add bigger nodes.")

    def fit_nodes(self) -> list[str]:
        """The nodes that can isolate attempts (newly joined ones probed first): envelopes go there only."""
        from mlwright.execution.ray_executor import probe_nodes

        probe_nodes(self.ray, self.nodes)
        fit = [n for n, why in self.nodes.items() if why is None]
        if not fit:
            raise MlwrightError(f"No node of the Ray cluster at {self.address} can isolate attempts: " +
                                "; ".join(f"node {n[:12]}: {w}" for n, w in self.nodes.items()),
                                hint="Install bubblewrap on the nodes (and allow unprivileged user namespaces).")
        return fit

    def try_acquire(self, name: str) -> Optional[Ticket]:
        """The run's envelope if the cluster has placed it (asked for on the first call), else None."""
        from ray.util.placement_group import placement_group

        with self.lock:
            if self.parallel is not None and self.running >= self.parallel:
                return None
            if name not in self.pending:
                pg_name = f"mlwright-{self.batch_id}-{name}"[:120]
                where = {"ray.io/node-id": "in(" + ",".join(self.fit_nodes()) + ")"}
                pg = placement_group([{"CPU": self.cpus}] * self.slots, strategy="PACK", name=pg_name,
                                     bundle_label_selector=[where] * self.slots)
                self.pending[name] = (pg, pg_name, time.time(), pg.ready())
            pg, pg_name, since, placed = self.pending[name]
            ready, _ = self.ray.wait([placed], timeout=0)
            if not ready:
                if self.running == 0 and time.time() - since >= self.WAIT_ALONE_S:
                    self.forget_locked(name)
                    raise MlwrightError(f"The Ray cluster at {self.address} cannot place an envelope of "
                                        f"{self.slots} x {self.cpus:g} CPUs for {name!r}.",
                                        hint="Lower --parallel-attempts or --ray-cpus-per-attempt, or add nodes.")
                return None
            del self.pending[name]
            self.running += 1
            return Ticket(args=["--ray-address", self.address, "--ray-placement-group", pg_name,
                                "--ray-cpus-per-attempt", f"{self.cpus:g}"], handle=pg)

    def acquire(self, name: str) -> Ticket:
        while (ticket := self.try_acquire(name)) is None:
            time.sleep(1.0)
        return ticket

    def release(self, ticket: Ticket) -> None:
        with self.lock:
            self.ray.util.remove_placement_group(ticket.handle)
            self.running -= 1

    def forget(self, name: str) -> None:
        """A queued run that will not start (cancelled): its envelope request goes."""
        with self.lock:
            self.forget_locked(name)

    def forget_locked(self, name: str) -> None:
        if name in self.pending:
            self.ray.util.remove_placement_group(self.pending.pop(name)[0])

    def close(self) -> None:
        with self.lock:
            for name in list(self.pending):
                self.forget_locked(name)
        self.ray.shutdown()
