"""Processes the lab starts: each in a session of its own, remembered by id, and stopped by that id.

Every server, backend and client driver goes through `Processes.start`; `Processes.stop_all` (also on
an exception or Ctrl-C, through the context manager) sends SIGTERM to each process group the lab made,
waits, and sends SIGKILL to what is left. Nothing is found by name, so nothing else on the machine is
touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


class LabError(RuntimeError):
    """Something the lab needs is missing or did not start: one line for the operator."""


@dataclass
class Started:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Processes:
    directory: Path
    started: list[Started] = field(default_factory=list)
    history: list[tuple[str, int]] = field(default_factory=list)  # every (name, process id) started, for the record
    lock: threading.Lock = field(default_factory=threading.Lock)  # servers' waves may run in threads

    def start(self, name: str, argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> Started:
        log = self.directory / f"{name}.out"
        with log.open("wb") as out:
            process = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        started = Started(name, process, log)
        with self.lock:
            self.started.append(started)
            self.history.append((name, process.pid))
        return started

    def check_alive(self) -> None:
        with self.lock:
            started = list(self.started)
        for s in started:
            code = s.process.poll()
            if code is not None and code != 0 and not s.name.startswith("client-"):
                tail = s.log.read_text(errors="replace").strip().splitlines()[-3:]
                raise LabError(f"{s.name} exited with status {code}: {' | '.join(tail)}")

    def stop(self, started: Started, timeout: float = 10.0) -> None:
        if started.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(started.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                started.process.wait(timeout)
        # The group may outlive its leader (nginx and Apache workers): SIGKILL whatever is left of it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(started.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            started.process.wait(2)
        with self.lock:
            if started in self.started:
                self.started.remove(started)

    def stop_all(self) -> None:
        for s in reversed(list(self.started)):
            self.stop(s)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def wait_for_port(host: str, port: int, timeout: float = 20.0, processes: Processes | None = None) -> None:
    """Until something accepts connections on host:port (or the timeout, or a started process died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        if processes is not None:
            processes.check_alive()
        time.sleep(0.1)
    raise LabError(f"nothing listens on {host}:{port} after {timeout:.0f} s")
