"""Waiting for subprocesses whose work is bounded by a step count, without a wall-clock limit.

A test that trains N steps in a subprocess must not fail because the machine is busy: a clock
timeout does (issue #20: the SKPS Table 4 test killed its fits after 1,200 s on a loaded 2-core box).
`wait_while_working` waits as long as the processes make progress and kills them only when they
hang: a process group that has used no CPU time for `stall_s` seconds is deadlocked or stopped
(a busy machine slows a process down, it never stops its CPU clock). Start each process with
`start_new_session=True` so it and its loader workers form one group to watch.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

_PROC = Path("/proc")


def _session_cpu_ticks(session: int) -> int | None:
    """utime + stime (+ reaped children's) of every process in `session`, in clock ticks; None without /proc."""
    if not (_PROC / "self" / "stat").is_file():
        return None
    total = 0
    for stat in _PROC.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()   # after "pid (comm)": state is fields[0]
        except (OSError, IndexError):
            continue   # the process ended while we looked
        if int(fields[3]) == session:   # field 6 of stat(5): session id
            total += sum(int(f) for f in fields[11:15])   # utime, stime, cutime, cstime
    return total


def wait_while_working(procs: list[subprocess.Popen], stall_s: float = 900.0, poll_s: float = 5.0) -> None:
    """Wait until every process in `procs` (each started with `start_new_session=True`) has exited.

    No wall-clock limit. A process group whose CPU time has not grown for `stall_s` seconds is killed
    (a hang guard), so the caller's return-code assertion fails instead of the test hanging. Without
    /proc (not Linux) it simply waits.
    """
    last = {p.pid: (_session_cpu_ticks(p.pid), time.monotonic()) for p in procs}
    while any(p.poll() is None for p in procs):
        time.sleep(poll_s)
        now = time.monotonic()
        for p in procs:
            if p.poll() is not None:
                continue
            ticks = _session_cpu_ticks(p.pid)
            seen, since = last[p.pid]
            if ticks is None or ticks != seen:
                last[p.pid] = (ticks, now)
            elif now - since > stall_s:   # no CPU used for stall_s: hung
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
