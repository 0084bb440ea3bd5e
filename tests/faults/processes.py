"""Stopping the console processes a fault test started, by process group, whatever state they are in."""

import os
import signal
import subprocess


def processes_stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM (a warm shutdown), then SIGKILL for any still running 15 s later; work horses included."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
