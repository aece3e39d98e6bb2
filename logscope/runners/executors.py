"""Where the plan's steps run: here, one after another (the default), or as tasks on a Dask cluster.

The plan of a large analysis is parse -> partition by client -> analyse each partition -> merge
(logscope.shards). Its middle steps are plain functions of picklable values, mapped over the partitions
by an executor, which gives their results back in order:

- `InProcess`: one partition after another in this process, so memory holds one partition at a time.
- `DaskCluster`: each step a Dask task. `--scheduler tcp://host:8786` (or `DASK_SCHEDULER_ADDRESS`) uses
  a running cluster whose workers see the same paths (a shared filesystem, or one machine);
  `--scheduler local:N` starts a `LocalCluster` of N worker processes here and stops it afterwards.
  A worker that dies mid-task is survived: the scheduler runs its task again on another worker.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from ..errors import LogscopeError

T = TypeVar("T")
R = TypeVar("R")

ENVIRONMENT = "DASK_SCHEDULER_ADDRESS"
_LOCAL = re.compile(r"local(?::(\d+))?")
#: A scheduler's address: a protocol (tcp, tls, ws, wss, ucx) or none, a host, and a port.
_ADDRESS = re.compile(r"(?:[a-z]+://)?[\w.-]+:\d{1,5}|(?:[a-z]+://)?\[[0-9a-fA-F:]+\]:\d{1,5}")
MAX_LOCAL_PER_CORE = 4  # local:N worker processes on this machine, at most this many per core


class Executor(Protocol):
    workers: int

    def map(self, step: Callable[[T], R], items: Sequence[T]) -> list[R]: ...

    def close(self) -> None: ...


class InProcess:
    """Steps run here, one item after another."""

    workers = 1

    def map(self, step: Callable[[T], R], items: Sequence[T]) -> list[R]:
        return [step(item) for item in items]

    def close(self) -> None:
        pass


class DaskCluster:
    """Steps run as tasks on a Dask cluster: a scheduler's address, or `local[:N]` for N local workers."""

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise LogscopeError("--scheduler needs Dask: pip install 'logscope[cluster]'") from None
        self.cluster: Any = None
        local = _LOCAL.fullmatch(address)
        try:
            if local:
                n = int(local.group(1) or os.cpu_count() or 1)
                most = MAX_LOCAL_PER_CORE * (os.cpu_count() or 1)
                if not 1 <= n <= most:
                    raise LogscopeError(f"--scheduler local:N starts N worker processes here: 1 to {most} on this machine, not {n}")
                # Worker processes with one thread each: Polars uses the cores inside each task.
                self.cluster = LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR
                )
                self.client = Client(self.cluster)
            else:
                if not _ADDRESS.fullmatch(address):
                    raise LogscopeError(f"--scheduler takes a Dask scheduler's address (tcp://host:8786) or local[:N], not {address!r}")
                self.client = Client(address, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            self.close()
            raise LogscopeError(f"cannot reach the Dask scheduler at {address} ({exc})") from None
        self.address = address

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def map(self, step: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if not items:
            return []
        futures = self.client.map(step, list(items), pure=False)
        return self.client.gather(futures)

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self.cluster is not None:
            self.cluster.close()


def executor_for(scheduler: str | None) -> Executor:
    """The executor `--scheduler` names (or `DASK_SCHEDULER_ADDRESS`); in process when neither is set."""
    address = scheduler if scheduler is not None else os.environ.get(ENVIRONMENT) or None
    return DaskCluster(address) if address else InProcess()


__all__ = ["ENVIRONMENT", "DaskCluster", "Executor", "InProcess", "executor_for"]
