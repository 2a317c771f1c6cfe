"""Where cells run: in this process, in a local process pool, or on a Ray cluster — same jobs, same results.

A backend offers ``slots`` (cells it runs at once), ``submit(job) -> handle`` and
``wait(handles, timeout) -> [(handle, CellResult | BaseException)]``; the engine keeps at most ``slots``
cells in flight, so "running" in the progress bar means running. Every backend calls the same
:func:`~adascale_rl.experiments.cells.run_cell`, and cells fix their own torch thread count, so the
result table does not depend on the backend.

- :class:`InlineBackend` (``--workers 1``): one cell at a time in this process (debuggable).
- :class:`PoolBackend` (``--workers N``): ``concurrent.futures.ProcessPoolExecutor`` with the *spawn*
  start method (forking a process that has torch's thread pools is unsafe). A worker that dies (killed,
  out of memory) breaks the pool: the cells in flight are reported failed with that reason, a fresh pool
  takes the remaining cells, and a rerun recomputes the failed ones.
- :class:`RayBackend` (``--ray``): Ray tasks (``num_cpus=1`` each) on a local instance or a cluster
  (``--address``). Ray itself retries a task whose worker or node dies (its default, up to 3 times).
  ``ray`` is imported only here, only when this backend starts.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from adascale_rl.experiments.cells import CellResult, run_cell
from adascale_rl.experiments.plan import CellJob

Outcome = CellResult | BaseException


class _Deferred:
    """A cell submitted to :class:`InlineBackend`, run when waited for."""

    def __init__(self, job: CellJob) -> None:
        self.job = job


class InlineBackend:
    """Runs each cell in this process when waited for."""

    slots = 1
    description = "this process"

    def __enter__(self) -> InlineBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def submit(self, job: CellJob) -> _Deferred:
        return _Deferred(job)

    def wait(self, handles: Sequence[_Deferred], timeout: float) -> list[tuple[_Deferred, Outcome]]:
        return [(handles[0], run_cell(handles[0].job))]


class PoolBackend:
    """A local pool of ``workers`` spawned processes (see module docstring)."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"--workers must be at least 1, got {workers}")
        self.slots = workers
        self.description = f"process pool, {workers} workers"
        self._executor: cf.ProcessPoolExecutor | None = None

    def __enter__(self) -> PoolBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def _pool(self) -> cf.ProcessPoolExecutor:
        if self._executor is None:
            self._executor = cf.ProcessPoolExecutor(self.slots, mp_context=multiprocessing.get_context("spawn"))
        return self._executor

    def submit(self, job: CellJob) -> cf.Future:
        try:
            return self._pool().submit(run_cell, job)
        except BrokenProcessPool:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
            return self._pool().submit(run_cell, job)

    def wait(self, handles: Sequence[cf.Future], timeout: float) -> list[tuple[cf.Future, Outcome]]:
        done, _ = cf.wait(handles, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        finished = []
        for future in done:
            try:
                finished.append((future, future.result()))
            except BrokenProcessPool as exc:
                finished.append((future, RuntimeError(f"a pool worker process died while this cell was in flight "
                                                      f"({exc}); rerun to compute it")))
            except Exception as exc:  # e.g. a result that could not be unpickled
                finished.append((future, exc))
        return finished


def import_ray():
    """``ray``, or a clear error naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ValueError("Ray is not installed: pip install 'adascale-rl[ray]'") from None
    return ray


class RayBackend:
    """Ray tasks on a local instance (``address=None``) or an existing cluster."""

    def __init__(self, address: str | None = None, workers: int | None = None, dashboard: bool = True) -> None:
        self.address = address
        self.workers = workers
        self.dashboard = dashboard
        self.dashboard_url = ""
        self.slots = workers or 1
        self.description = "ray"
        self._started = False

    def __enter__(self) -> RayBackend:
        ray = import_ray()

        if ray.is_initialized():  # reuse the caller's connection (and leave it open)
            from ray._private.worker import get_dashboard_url

            self.dashboard_url = get_dashboard_url() or ""
        else:
            kwargs: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
            if self.address is None:
                kwargs.update(num_cpus=self.workers, include_dashboard=self.dashboard)
            try:
                context = ray.init(address=self.address, **kwargs)
            except ConnectionError as exc:
                raise ValueError(f"cannot connect to the Ray cluster at {self.address!r}: {exc}") from None
            self.dashboard_url = context.dashboard_url or ""
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.slots = min(self.workers, cpus) if self.workers else cpus
        where = self.address or "local instance"
        self.description = f"ray ({where}, {cpus} CPUs, {self.slots} cells at once)"
        self._remote = ray.remote(num_cpus=1)(run_cell)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            import ray

            ray.shutdown()

    def submit(self, job: CellJob) -> Any:
        return self._remote.remote(job)

    def wait(self, handles: Sequence[Any], timeout: float) -> list[tuple[Any, Outcome]]:
        import ray

        ready, _ = ray.wait(list(handles), num_returns=1, timeout=timeout)
        finished = []
        for ref in ready:
            try:
                finished.append((ref, ray.get(ref)))
            except Exception as exc:  # RayTaskError, WorkerCrashedError, NodeDiedError …
                finished.append((ref, exc))
        return finished
