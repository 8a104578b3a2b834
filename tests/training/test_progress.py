"""Progress bars appear on a terminal and stay out of logs, pipes and cron mail."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from features.workspace import Workspace


@pytest.fixture
def workspace(tmp_path, small_shop):
    ws = Workspace(tmp_path / "ws")
    small_shop.to_parquet(ws.table_path("orders"), index=False)
    return ws


def _build(ws, stderr):
    env = {**os.environ, "SHELFWISE_HOME": str(ws.home)}
    return subprocess.Popen([sys.executable, "-m", "training.cli", "features", "build", "--as-of", "2011-03-01",
                             "--horizon-days", "30"], env=env, stdout=subprocess.PIPE, stderr=stderr)


def test_feature_cutoffs_draw_a_bar_on_a_terminal(workspace):
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a 120-column terminal
    proc = _build(workspace, follower)
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process ended
            break
        if not chunk:
            break
        drawn += chunk
    proc.wait(timeout=120)
    os.close(leader)

    assert proc.returncode == 0
    assert b"feature cutoffs" in drawn and b"cutoff/s" in drawn


def test_feature_cutoffs_stay_quiet_off_a_terminal(workspace):
    proc = _build(workspace, subprocess.PIPE)
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 0
    assert b"[features] cutoff 1/" in out  # the plain log line is the record
    assert b"feature cutoffs" not in err and b"\r" not in err
