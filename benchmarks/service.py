"""A real shelfwise service on 127.0.0.1 for benchmarks and end-to-end tests: started with
``python -m serving``, waited for until ``/readyz`` answers, and stopped with every worker."""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on now, for a server a test or benchmark starts.

    Drawn below Linux's ephemeral range (32768-60999): a port the kernel hands out for binding
    to 0 is also one it hands out to outgoing connections, and a client of another test took
    one between this call and the server's start ("Address already in use")."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20_000, 32_768)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("free_port: no free port of 127.0.0.1 in 20000-32767")


def kill_tree(pid: int, sig: int) -> None:
    """Signal a process and all its descendants: BentoML's workers run in sessions of their
    own, so a signal to the service's process group leaves them serving, orphaned."""
    import psutil

    try:
        parent = psutil.Process(pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for p in family:
        try:
            p.send_signal(sig)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=20)


def answers(url: str, proc: subprocess.Popen, timeout: float) -> bool:
    """Whether ``GET url`` answers 200 within ``timeout`` s while ``proc`` (the server) runs:
    asked every half second; False as soon as ``proc`` exits."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    return False


@contextmanager
def running_service(env: dict[str, str], log: Path, timeout: float = 300.0
                    ) -> Iterator[tuple[subprocess.Popen, str]]:
    """``python -m serving`` with ``env`` (``SHELFWISE_HOME`` names the workspace), its output
    in ``log``, until the block ends; yields the process and its URL once ``/readyz`` is 200.

    Raises
    ------
    RuntimeError
        With the end of the log, when the service exits or is not ready within ``timeout`` s.
    """
    port = free_port()
    out = open(log, "a")
    proc = subprocess.Popen([sys.executable, "-m", "serving", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        if not answers(f"{url}/readyz", proc, timeout):
            if proc.poll() is not None:
                raise RuntimeError(f"the service exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            raise RuntimeError(f"the service was not ready in {timeout:.0f} s:\n{log.read_text()[-3000:]}")
        yield proc, url
    finally:
        kill_tree(proc.pid, signal.SIGTERM)
        kill_tree(proc.pid, signal.SIGKILL)  # whatever did not stop in 20 s
        proc.wait(timeout=20)
        out.close()
