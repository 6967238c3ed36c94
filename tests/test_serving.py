"""Serving with several processes (`govshare serve --workers N`, `govshare.serving`): a real server of two
uvicorn worker processes on a migrated SQLite node, each worker with a listening socket of its own on the
same port (SO_REUSEPORT), so the kernel hands new connections to both; a worker killed with SIGKILL is
started again while the other goes on answering; SIGTERM stops the server and all its processes; a port
already taken by another program fails at once. Linux only (SO_REUSEPORT spreading connections, /proc).

One server is started for the module (two workers importing the app take a few seconds); the SIGTERM test,
last in the file, stops it, and a later test would start another."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

if not sys.platform.startswith("linux"):
    pytest.skip("SO_REUSEPORT load spreading and /proc are Linux's", allow_module_level=True)

import psutil

from govshare import migrate
from govshare.serving import listening_socket

APP = "govshare.app:create_app"
WORKERS = 2
START_TIMEOUT = 40.0
STOP_TIMEOUT = 15.0
CONNECTIONS = 24  # fresh connections: all on one worker by chance has probability 2 × 2^-24


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def parent(self) -> psutil.Process:
        return psutil.Process(self.process.pid)

    def workers(self) -> list[psutil.Process]:
        """The live worker processes (the parent's other child is multiprocessing's resource tracker)."""
        found = []
        for child in self.parent.children():
            try:
                if "--multiprocessing-fork" in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                    found.append(child)
            except psutil.NoSuchProcess:
                continue
        return found

    def listeners(self, process: psutil.Process) -> list[str]:
        """The listening sockets `process` holds on the server's port, as "socket:[inode]"."""
        try:
            return [os.readlink(f"/proc/{process.pid}/fd/{conn.fd}") for conn in process.net_connections("tcp")
                    if conn.status == psutil.CONN_LISTEN and conn.laddr.port == self.port]
        except (psutil.NoSuchProcess, FileNotFoundError):
            return []

    def owner(self, connection: socket.socket) -> int | None:
        """The pid of the worker holding the server's end of `connection`."""
        mine = connection.getsockname()[1]
        for worker in self.workers():
            try:
                conns = worker.net_connections("tcp")
            except psutil.NoSuchProcess:
                continue
            if any(c.laddr.port == self.port and c.raddr and c.raddr.port == mine for c in conns):
                return worker.pid
        return None

    def failed(self, what: str) -> AssertionError:
        return AssertionError(f"{what}: {self.log.read_text(errors='replace')[-3000:]}")


def _ask(port: int) -> tuple[int, dict, socket.socket]:
    """GET /healthz on a new TCP connection, kept open (the caller closes it)."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed after {received!r}")
        received += chunk
    head, body = received.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed mid-body")
        body += chunk
    return int(head.split()[1]), json.loads(body), connection


def _healthy(port: int) -> bool:
    try:
        status, _, connection = _ask(port)
    except OSError:
        return False
    connection.close()
    return status == 200


def _wait_ready(server: Server, exclude: set[int] = frozenset()) -> list[psutil.Process]:
    """Waits until WORKERS workers (none of `exclude`) each listen on the port and /healthz answers."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise server.failed("the server exited")
        workers = server.workers()
        if (len(workers) == WORKERS and not {w.pid for w in workers} & exclude
                and all(server.listeners(w) for w in workers) and _healthy(server.port)):
            return workers
        time.sleep(0.1)
    raise server.failed("the server's workers did not all start")


def _start(folder: Path) -> Server:
    port = _free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("GOVSHARE_")}
    env.update(GOVSHARE_DATABASE_URL=f"sqlite:///{folder / 'node.db'}", GOVSHARE_DATA_DIR=str(folder / "var"))
    log = folder / f"server-{port}.log"
    code = (f"from govshare.serving import serve; serve({APP!r}, factory=True, host='127.0.0.1', port={port}, "
            f"workers={WORKERS}, log_level='warning')")
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                               stderr=log.open("wb"), start_new_session=True)
    return Server(process, port, log)


def _gone(process: psutil.Process, *, reaped: bool) -> bool:
    """Exited: reaped by its parent, or (unless `reaped`) a zombie. A zombie group leader may still have
    threads exiting and its sockets open; a process its parent has reaped has none."""
    try:
        status = process.status()
    except psutil.NoSuchProcess:
        return True
    return status == psutil.STATUS_ZOMBIE and not reaped


def _wait_gone(processes: list[psutil.Process], timeout: float, *, reaped: bool = False) -> list[psutil.Process]:
    """Waits until every process has exited; returns those still running at the timeout. (psutil's own
    wait may call waitpid on a process that is not our child.)"""
    deadline = time.monotonic() + timeout
    while True:
        alive = [process for process in processes if not _gone(process, reaped=reaped)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _kill_all(server: Server) -> None:
    """Last resort after a failed test: nothing of the server may outlive the module. The server runs in
    a session of its own, so its process group holds every process it started, even once it is dead."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(5)


class Node:
    """A migrated SQLite node and the server currently running on it (started on first use)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        migrate.upgrade(f"sqlite:///{folder / 'node.db'}")
        self.server: Server | None = None

    def running(self) -> tuple[Server, list[psutil.Process]]:
        if self.server is None or self.server.process.poll() is not None:
            self.server = _start(self.folder)
        return self.server, _wait_ready(self.server)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    node = Node(tmp_path_factory.mktemp("serving"))
    yield node
    if node.server is not None:
        _kill_all(node.server)


# ---------------------------------------------------------------- the port


def test_listening_sockets_share_a_port_only_with_reuseport():
    """Every worker's socket is TCP with SO_REUSEPORT and inheritable, so several bind the same port; a
    port already bound by a socket without SO_REUSEPORT (listening or not) fails at once with
    EADDRINUSE."""
    first = listening_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = listening_socket("127.0.0.1", port)
    try:
        for listener in (first, second):
            assert listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            assert listener.proto == socket.IPPROTO_TCP and listener.type == socket.SOCK_STREAM
            assert listener.get_inheritable()
        assert second.getsockname() == ("127.0.0.1", port)
    finally:
        first.close()
        second.close()
    for listen in (True, False):
        with socket.socket() as other:
            other.bind(("127.0.0.1", 0))
            if listen:
                other.listen()
            started = time.monotonic()
            with pytest.raises(OSError) as taken:
                listening_socket("127.0.0.1", other.getsockname()[1])
            assert taken.value.errno == errno.EADDRINUSE
            assert time.monotonic() - started < 1


def test_serve_on_a_port_taken_by_another_program_fails_fast(tmp_path):
    """`serve` checks the port before starting any worker: on a port another program listens on (without
    SO_REUSEPORT) it raises OSError at once instead of starting workers that would each fail."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        code = (f"from govshare.serving import serve; serve({APP!r}, factory=True, host='127.0.0.1', port={port}, "
                f"workers={WORKERS}, log_level='warning')")
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   start_new_session=True, env={**os.environ, "GOVSHARE_DATA_DIR": str(tmp_path)})
        try:
            _, stderr = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise AssertionError("serve kept running on a port already taken") from None
        assert process.returncode != 0
        assert b"OSError" in stderr and b"Address already in use" in stderr, stderr.decode(errors="replace")
        assert b"multiprocessing" not in stderr  # no worker was started
        assert time.monotonic() - started < 10


# ---------------------------------------------------------------- the server


def test_every_worker_listens_on_its_own_socket_and_gets_connections(node):
    """Both workers hold a listening socket of their own on the port (two distinct sockets; the parent
    holds none), and new TCP connections are spread over both: each of 24 connections is answered 200
    by a worker, and each worker answers some."""
    server, workers = node.running()
    sockets = [server.listeners(w) for w in workers]
    assert all(len(held) == 1 for held in sockets)
    assert len({held[0] for held in sockets}) == WORKERS  # not one inherited socket shared
    assert server.listeners(server.parent) == []
    owners = []
    for _ in range(CONNECTIONS):
        status, body, connection = _ask(server.port)
        try:
            assert (status, body["status"]) == (200, "ok")
            owners.append(server.owner(connection))
        finally:
            connection.close()
    assert set(owners) == {w.pid for w in workers}, owners


def test_worker_killed_with_sigkill_is_started_again(node):
    """A worker killed with SIGKILL: the other goes on answering every new connection meanwhile, and the
    parent (the same process) starts a new worker, which listens and gets connections of its own."""
    server, workers = node.running()
    parent = server.process.pid
    victim, survivor = workers
    os.kill(victim.pid, signal.SIGKILL)
    # the parent reaps it when it sees it dead (then, and not as a zombie, its socket is surely closed)
    assert _wait_gone([victim], STOP_TIMEOUT, reaped=True) == []
    for _ in range(10):
        status, _, connection = _ask(server.port)
        connection.close()
        assert status == 200
    replaced = _wait_ready(server, exclude={victim.pid})
    assert server.process.poll() is None and server.process.pid == parent
    assert survivor.pid in {w.pid for w in replaced}
    (new,) = [w for w in replaced if w.pid != survivor.pid]
    owners = []
    for _ in range(CONNECTIONS):
        status, _, connection = _ask(server.port)
        owners.append(server.owner(connection))
        connection.close()
        assert status == 200
    assert new.pid in owners and survivor.pid in owners, owners


def test_sigterm_stops_the_server_and_all_its_processes(node):
    """SIGTERM to the parent: the workers finish (an idle keep-alive connection does not hold them), the
    parent exits with status 0, no process of the server is left and the port refuses connections."""
    server, _ = node.running()
    everyone = server.parent.children(recursive=True)
    assert len(everyone) >= WORKERS
    status, _, idle = _ask(server.port)  # a keep-alive connection left open
    assert status == 200
    started = time.monotonic()
    try:
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(STOP_TIMEOUT) == 0
        alive = _wait_gone(everyone, STOP_TIMEOUT)
        assert alive == [], alive
        assert time.monotonic() - started < STOP_TIMEOUT
        idle.settimeout(5)
        assert idle.recv(1) == b""  # closed by the server
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
    finally:
        idle.close()


def test_workers_stop_when_their_parent_is_killed(node):
    """SIGKILL of the parent (no chance to stop its workers): the workers notice and stop, so they do not
    keep the port (their SO_REUSEPORT sockets would share it with the next server started on it)."""
    server, workers = node.running()
    os.kill(server.process.pid, signal.SIGKILL)
    server.process.wait(5)
    assert _wait_gone(workers, STOP_TIMEOUT) == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
