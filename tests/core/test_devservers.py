"""The development runtime (`opsconsole.devservers`) and the development server's log."""

import logging
import os

from opsconsole import devservers


def test_a_running_postgres_is_recognised_so_exec_says_it_reuses_it(tmp_path):
    assert not devservers._postmaster_alive(tmp_path)  # no postmaster.pid: it will start one
    (tmp_path / "postmaster.pid").write_text(f"{os.getpid()}\n/data\n")
    assert devservers._postmaster_alive(tmp_path)  # a live process holds the data directory
    (tmp_path / "postmaster.pid").write_text("999999999\n")
    assert not devservers._postmaster_alive(tmp_path)  # a stale file left by a crash


def test_commands_run_through_exec_default_to_debug(monkeypatch):
    monkeypatch.delenv("DEBUG", raising=False)
    assert devservers.Runtime().env["DEBUG"] == "true"
    monkeypatch.setenv("DEBUG", "false")
    assert devservers.Runtime().env["DEBUG"] == "false"  # an explicit choice wins


def test_the_development_server_does_not_log_every_static_file(caplog):
    server = logging.getLogger("django.server")
    record = lambda line, status: server.makeRecord(  # noqa: E731
        "django.server", logging.INFO, __file__, 1, '"%s" %s %s', (line, str(status), "10"), None,
        extra={"status_code": status},
    )  # fmt: skip
    handler = server.handlers[0]
    assert not handler.filter(record("GET /static/unfold/css/styles.css HTTP/1.1", 200))
    assert handler.filter(record("GET /static/missing.css HTTP/1.1", 404))  # a broken asset is still said
    assert handler.filter(record("GET /admin/ HTTP/1.1", 200))
