"""Hypercorn's workers under a supervisor that replaces a dead worker and bounds shutdown.

``python -m quart_app.supervisor --config hypercorn.toml quart_app.asgi:app``
takes exactly Hypercorn's command line (every flag, parsed by Hypercorn itself)
and runs Hypercorn's own worker processes; only the parent process is ours,
because Hypercorn 0.18's (``hypercorn.run.run``) does three things wrong:

- a worker that dies (OOM killer, a crash) stops *every* worker at once, and
  the parent then exits 0, so not even ``Restart=on-failure`` brings it back;
- on SIGTERM, the first worker to finish draining makes the parent SIGTERM the
  others, which die on the spot: their in-flight requests are cut;
- the listening socket stays open in the parent until the end, so new
  connections hang in the backlog instead of being refused.

Here a dead worker is logged and replaced while the others go on serving;
SIGTERM or SIGINT closes the listening sockets at once, lets every worker
drain for ``graceful_timeout``, and kills whatever still runs
``SHUTDOWN_MARGIN`` seconds after that (Hypercorn's asyncio worker can wait
for a connection forever on Python 3.12+, hypercorn issue #308). A replacement
that cannot start (its database is down, say) is retried at once, then after 1,
2, 4 … 30 s, while the others serve; SIGHUP is ignored rather than fatal. Exit
status: 0 after a requested stop, 1 when one of the first workers could not start.
"""

import contextlib
import logging
import math
import signal
import socket
import sys
import time
from multiprocessing import get_context
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from typing import Final

import hypercorn.__main__
from hypercorn.config import Config, Sockets
from hypercorn.run import run as hypercorn_run
from hypercorn.typing import WorkerFunc
from hypercorn.utils import write_pid_file

from .serving import configure_logging

log = logging.getLogger("quart_app.supervisor")  # also when run as __main__

# Seconds past graceful_timeout a worker gets to finish its app's shutdown before it is killed.
SHUTDOWN_MARGIN: Final = 3.0
# A worker that exits this soon after it was started could not start. One of the first workers
# means a bad setting: replacing it would only repeat the error, so the server stops with
# status 1. A replacement (the others still serve) is retried after a growing pause instead.
STARTUP_GRACE: Final = 10.0
MAX_RETRY_PAUSE: Final = 30.0


def _worker_function(worker_class: str) -> WorkerFunc:
    """Hypercorn's own worker entry point for the configured ``worker_class``."""
    if worker_class == "trio":
        from hypercorn.trio.run import trio_worker

        return trio_worker
    from hypercorn.asyncio.run import asyncio_worker, uvloop_worker

    workers: dict[str, WorkerFunc] = {"asyncio": asyncio_worker, "uvloop": uvloop_worker}
    if worker_class not in workers:
        raise ValueError(f"No worker of class {worker_class} exists")
    return workers[worker_class]


class Supervisor:
    """The parent process: starts the workers, replaces dead ones, and stops them on request."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.worker_function = _worker_function(config.worker_class)
        self.context = get_context("spawn")
        self.shutdown_event: Event = self.context.Event()
        self.sockets: Sockets = config.create_sockets()
        self.workers: dict[BaseProcess, float] = {}
        self.first_workers: set[BaseProcess] = set()
        self.due: list[float] = []  # when the replacements waiting for a retry may start
        self.failed_starts = 0
        self.last_failure = -math.inf
        self.stopping = False
        self.wake_up, self._wake_up_sender = socket.socketpair()
        self._wake_up_sender.setblocking(False)

    def start_worker(self) -> BaseProcess:
        """Spawn one Hypercorn worker on the shared sockets; it ignores SIGINT, as Hypercorn's do.

        A Ctrl+C reaches the whole process group; only this process decides what it means.
        """
        process = self.context.Process(target=self.worker_function, kwargs={
            "config": self.config, "sockets": self.sockets,
            "shutdown_event": self.shutdown_event,
        })
        process.daemon = self.config.daemon
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            process.start()
        finally:
            signal.signal(signal.SIGINT, handler)
        self.workers[process] = time.monotonic()
        log.info("worker %s started", process.pid)
        return process

    def request_stop(self, signum: int, _frame: object) -> None:
        """Signal handler: note the request and wake the main loop (nothing else is safe here)."""
        self.stopping = True
        with contextlib.suppress(BlockingIOError):  # unread wake-ups: it wakes anyway
            self._wake_up_sender.send(b"\0")

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; replace workers that die meanwhile."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self.request_stop)
        signal.signal(signal.SIGHUP, self.ignore_hangup)
        self.first_workers = {self.start_worker() for _ in range(self.config.workers)}
        status = 0
        while not self.stopping:
            pause = max(0.0, min(self.due) - time.monotonic()) if self.due else None
            wait([*(process.sentinel for process in self.workers), self.wake_up], timeout=pause)
            if self.stopping:
                break
            if not self.replace_exited_workers():
                status = 1
                break
            self.start_due_workers()
        self.stop()
        return status

    def ignore_hangup(self, signum: int, _frame: object) -> None:
        """SIGHUP (Hypercorn's reload, a closed terminal) must not kill the parent alone.

        Dying would leave the workers serving with nobody to replace or stop
        them; a reload here is a restart of the service.
        """
        log.warning("SIGHUP ignored: restart the service to reload it")

    def replace_exited_workers(self) -> bool:
        """Replace each worker that exited; False if one of the first ones could not start."""
        for process, started in list(self.workers.items()):
            if process.exitcode is None:
                continue
            process.join()
            del self.workers[process]
            code: int = process.exitcode
            cause = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
            now = time.monotonic()
            quick = now - started < STARTUP_GRACE
            if quick and process in self.first_workers and code > 0:
                log.error("worker %s failed to start (%s): stopping", process.pid, cause)
                return False
            pause = self._pause_before_replacing(quick, now)
            if pause == 0:
                log.warning("worker %s %s: starting a replacement", process.pid, cause)
                self.start_worker()
            else:
                log.error("worker %s %s soon after starting: retrying in %.0f s", process.pid,
                          cause, pause)
                self.due.append(now + pause)
        return True

    def _pause_before_replacing(self, quick: bool, now: float) -> float:
        """0 s for a worker that had run a while, or a first quick death; then 1, 2, 4 … 30 s."""
        if not quick:
            self.failed_starts = 0
            return 0.0
        if now - self.last_failure > STARTUP_GRACE + MAX_RETRY_PAUSE:
            self.failed_starts = 0
        self.failed_starts += 1
        self.last_failure = now
        return 0.0 if self.failed_starts == 1 else min(MAX_RETRY_PAUSE,
                                                       2.0 ** (self.failed_starts - 2))

    def start_due_workers(self) -> None:
        """Start the replacements whose pause is over."""
        now = time.monotonic()
        for due in [due for due in self.due if due <= now]:
            self.due.remove(due)
            self.start_worker()

    def stop(self) -> None:
        """Refuse new connections, let the workers drain, and kill them at the deadline."""
        for sock in (*self.sockets.secure_sockets, *self.sockets.insecure_sockets,
                     *self.sockets.quic_sockets):
            sock.close()
        self.shutdown_event.set()
        deadline = time.monotonic() + self.config.graceful_timeout + SHUTDOWN_MARGIN
        while self.workers and (left := deadline - time.monotonic()) > 0:
            wait([process.sentinel for process in self.workers], timeout=left)
            for process in [p for p in self.workers if p.exitcode is not None]:
                process.join()
                del self.workers[process]
        for process in self.workers:
            log.error("worker %s still running %.0f s after the stop was asked for: killed",
                      process.pid, self.config.graceful_timeout + SHUTDOWN_MARGIN)
            process.kill()
            process.join()
        self.workers.clear()


def supervise(config: Config) -> int:
    """Hypercorn's ``run`` for several workers, supervised; 0 or the reloader use Hypercorn's."""
    if config.workers == 0 or config.use_reloader:
        return hypercorn_run(config)
    if config.pid_path is not None:
        write_pid_file(config.pid_path)
    return Supervisor(config).run()


def main(argv: list[str] | None = None) -> int:
    """Hypercorn's command line, with the supervisor in place of Hypercorn's parent process."""
    configure_logging()
    hypercorn.__main__.run = supervise  # type: ignore[attr-defined]  # its one call to run()
    return hypercorn.__main__.main(argv)


if __name__ == "__main__":
    sys.exit(main())
