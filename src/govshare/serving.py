"""Serving with several processes (`govshare serve --workers N`).

Each worker process opens its own listening socket on the same port with SO_REUSEPORT, so the kernel
spreads new connections over the workers evenly. (With one shared socket, as in `uvicorn --workers`, the
worker that wakes first accepts every connection waiting, up to a hundred at a time: under a burst of
keep-alive clients one worker serves nearly all of them while the others idle.) The sockets are created as
IPPROTO_TCP, so asyncio turns Nagle's algorithm off on accepted connections (the shared socket of
`uvicorn --workers` is not: Kludex/uvicorn#3149). A worker that dies is started again."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
import time

RESTART_PAUSE_SECONDS = 1.0


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind((host, port))
    listener.listen(2048)
    listener.set_inheritable(True)
    return listener


def _worker(app: str, factory: bool, host: str, port: int, log_level: str) -> None:
    import uvicorn

    config = uvicorn.Config(app, factory=factory, host=host, port=port, access_log=False, log_level=log_level)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    uvicorn.Server(config).run(sockets=[listening_socket(host, port)])


def _exit_with_parent(parent: int) -> None:
    """A worker whose parent was killed stops too: left running, it would keep the port (its socket has
    SO_REUSEPORT, so a new server would share connections with it)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn finishes the requests in flight


def serve(app: str, *, host: str, port: int, workers: int, factory: bool = False, log_level: str = "info") -> None:
    """Runs `app` ("module:attribute") in `workers` processes on host:port until SIGINT or SIGTERM."""
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> multiprocessing.Process:
        process = context.Process(target=_worker, args=(app, factory, host, port, log_level), daemon=False)
        process.start()
        return process

    def stop(*_args) -> None:
        nonlocal stopping
        stopping = True

    listening_socket(host, port).close()  # a port already taken fails here, once, not in every worker
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    processes: list[multiprocessing.Process] = []
    try:
        for _ in range(workers):
            processes.append(start())
        while not stopping:
            time.sleep(0.2)
            for n, process in enumerate(processes):
                if not process.is_alive() and not stopping:
                    time.sleep(RESTART_PAUSE_SECONDS)  # a worker that dies at start must not spin
                    processes[n] = start()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
