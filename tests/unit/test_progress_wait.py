"""The subprocess wait of step-budgeted tests: no clock limit, a hang guard on CPU progress (issue #20)."""

import subprocess
import sys

import pytest

from tests.progress import _session_cpu_ticks, wait_while_working


@pytest.mark.skipif(_session_cpu_ticks(0) is None, reason="needs /proc (Linux)")
def test_a_working_process_outlives_the_stall_limit_and_a_hung_one_is_killed():
    """1.5 s of CPU work against a 1 s stall limit: it runs to the end (a 1 s clock limit would have
    killed it, however busy the machine); a process that sleeps (no CPU) is killed after the limit."""
    work = subprocess.Popen([sys.executable, "-c", "import time\nwhile time.process_time() < 1.5: pass"],
                            start_new_session=True)
    hung = subprocess.Popen(["sleep", "600"], start_new_session=True)
    wait_while_working([work, hung], stall_s=1.0, poll_s=0.2)
    assert work.returncode == 0 and hung.returncode == -9   # the sleeper was killed, the worker finished
