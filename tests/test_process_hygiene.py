"""Sweep processes clean up after themselves: killing a sweep (even ``kill -9``) leaves no
worker processes behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="POSIX process tree, Linux")

#: a linear sweep whose cells take a while (gradient descent at d = 300): ~10 s and more
SLOW_CONFIG = """\
name = "hygiene"
family = "linear"
seeds = 4

[params]
d = 300
gd = true

[grid]
n = [10, 30, 60, 100, 150, 200, 250, 290, 320, 400, 500, 600]
"""


def _alive(proc: psutil.Process) -> bool:
    """Running (a zombie waiting for its reaper counts as dead)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("delay", [0.0, 3.0])
def test_workers_exit_when_the_sweep_is_killed(tmp_path: Path, delay: float) -> None:
    cfg = tmp_path / "hygiene.toml"
    cfg.write_text(SLOW_CONFIG, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_WORKER"}
    sweep = subprocess.Popen(
        [sys.executable, "-m", "finetune_bounds", "sweep", str(cfg), "--executor", "processes",
         "--workers", "2", "--out", str(tmp_path / "out"), "--no-progress"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    children: list[psutil.Process] = []
    try:
        parent = psutil.Process(sweep.pid)
        deadline = time.monotonic() + 30
        while True:
            assert sweep.poll() is None, sweep.stderr.read().decode() if sweep.stderr else ""
            assert time.monotonic() < deadline, "the sweep's workers never started"
            children = parent.children(recursive=True)
            workers = [p for p in children if "spawn_main" in " ".join(p.cmdline())]
            if len(workers) >= 2:
                break
            time.sleep(0.1)
        time.sleep(delay)  # 0: workers still starting (importing); 3: running their cells
        children = parent.children(recursive=True)  # workers and the resource tracker
        sweep.send_signal(signal.SIGKILL)
        sweep.wait(timeout=10)
        assert sweep.returncode == -signal.SIGKILL

        gone_by = time.monotonic() + 5
        while any(_alive(p) for p in children) and time.monotonic() < gone_by:
            time.sleep(0.1)
        left = [(p.pid, " ".join(p.cmdline())[:80]) for p in children if _alive(p)]
        assert not left, f"processes left behind by the killed sweep: {left}"
    finally:
        for p in children:  # never leave them running, whatever happened above
            if _alive(p):
                p.kill()
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait(timeout=10)
        if sweep.stderr is not None:
            sweep.stderr.close()
