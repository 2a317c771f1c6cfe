"""The contention injector's worker processes. Run as a script (``python load_workers.py``), standard
library only, so a worker starts in milliseconds and inherits no torch threads, locks or ``__main__``.

The parent writes one JSON line on the worker's stdin::

    {"kind": "cpu" | "memory", "values": [...], "tick_s": 0.1, "t0": <time.monotonic()>, "loop": false,
     "parent_pid": 1234}

and keeps the pipe open. The worker stops when the pipe closes (the parent closed it, or the parent died
— the kernel closes a dead process's pipes) or when it reads ``stop``; ``PR_SET_PDEATHSIG`` additionally
has the kernel SIGKILL it if the parent is killed. SIGTERM ends it at once (default action).

- ``cpu``: in tick ``k`` (``tick_s`` long, starting at ``t0 + k·tick_s`` on the system-wide monotonic
  clock) spin for ``values[k] · tick_s`` seconds and sleep for the rest of the tick.
- ``memory``: keep ``values[k]`` bytes resident: a list of fixed-size ``bytearray`` chunks, every page
  written once when allocated so the kernel really backs it (an untouched ``bytearray`` maps only the
  shared zero page), chunks dropped again when the target falls.

After the schedule ends the worker idles (or repeats the schedule when ``loop`` is true).
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import sys
import time

PAGE = 4096
CHUNK_BYTES = 32 * 1024 * 1024  # ballast granularity
MAX_CHANGE_PER_TICK = 8  # chunks allocated or freed per tick at most, so touching pages never eats a whole tick


class Control:
    """The stdin pipe from the parent: the worker's clock for sleeping and its stop signal."""

    def __init__(self, stream) -> None:
        self.fd = stream.fileno()
        self.stopped = False

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to ``timeout_s``; True if the parent asked to stop or went away."""
        if self.stopped:
            return True
        readable, _, _ = select.select([self.fd], [], [], max(0.0, timeout_s))
        if readable:
            data = os.read(self.fd, 4096)
            if not data or b"stop" in data:
                self.stopped = True
        return self.stopped


def die_with_parent(parent_pid: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux); exit if it already has."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(0)


def tick_index(t0: float, tick_s: float, n: int, loop: bool) -> int | None:
    """Index of the current tick, None once a non-looping schedule has ended."""
    k = int((time.monotonic() - t0) // tick_s)
    if k >= n:
        return k % n if loop else None
    return max(k, 0)


def run_cpu(values: list[float], tick_s: float, t0: float, loop: bool, control: Control) -> None:
    n = len(values)
    while True:
        now = time.monotonic()
        if now < t0:
            if control.wait(t0 - now):
                return
            continue
        k = tick_index(t0, tick_s, n, loop)
        if k is None:
            if control.wait(0.5):
                return
            continue
        tick_start = t0 + int((now - t0) // tick_s) * tick_s
        busy_until = tick_start + values[k] * tick_s
        while time.monotonic() < busy_until:
            pass
        if control.wait(tick_start + tick_s - time.monotonic()):
            return


def run_memory(values: list[int], tick_s: float, t0: float, loop: bool, control: Control) -> None:
    chunks: list[bytearray] = []
    n = len(values)
    while True:
        k = tick_index(t0, tick_s, n, loop) if time.monotonic() >= t0 else None
        want = (values[k] if k is not None else 0) // CHUNK_BYTES
        for _ in range(MAX_CHANGE_PER_TICK):
            if len(chunks) < want:
                chunk = bytearray(CHUNK_BYTES)
                for offset in range(0, CHUNK_BYTES, PAGE):
                    chunk[offset] = 1
                chunks.append(chunk)
            elif len(chunks) > want:
                chunks.pop()
            else:
                break
        if control.wait(tick_s):
            return


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which stops us cleanly
    config = json.loads(sys.stdin.buffer.readline())
    die_with_parent(int(config["parent_pid"]))
    control = Control(sys.stdin)
    run = run_cpu if config["kind"] == "cpu" else run_memory
    run(config["values"], float(config["tick_s"]), float(config["t0"]), bool(config["loop"]), control)
    return 0


if __name__ == "__main__":
    sys.exit(main())
