"""The app under gunicorn as production runs it, and a watchdog on its workers' memory."""

from __future__ import annotations

import contextlib
import http.client
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (peak RSS) and the other Vm* lines of /proc/<pid>/status, in bytes."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("Vm"):
                    name, _, rest = line.partition(":")
                    values[name] = int(rest.split()[0]) * 1024
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return values


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # The command name may hold spaces: the parent pid follows its closing ")".
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return sorted(found)


class Gunicorn:
    """`gunicorn config.wsgi:application` on 127.0.0.1:`port` with sync workers.

    Every process gets an address-space limit (RLIMIT_AS) as a last guard; the
    watchdog below is the first one.
    """

    def __init__(
        self,
        *,
        port: int,
        workers: int,
        env: dict[str, str],
        log_dir: Path,
        timeout: int = 300,
        address_space_limit: int = 4096 * MIB,
    ) -> None:
        self.port = port
        self.workers = workers
        self.env = env
        self.log_dir = log_dir
        self.timeout = timeout
        self.address_space_limit = address_space_limit
        self.process: subprocess.Popen[bytes] | None = None

    def _limit(self) -> None:
        limit = self.address_space_limit
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def start(self, ready_within: float = 60.0) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"gunicorn-{self.port}.log"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--worker-class",
            "sync",
            "--timeout",
            str(self.timeout),
            "--graceful-timeout",
            "5",
            "--access-logfile",
            str(self.log_dir / f"access-{self.port}.log"),
            "--error-logfile",
            str(log),
        ]
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **self.env},
            cwd=Path(__file__).resolve().parent.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=self._limit,
            start_new_session=True,
        )
        deadline = time.monotonic() + ready_within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {log}")
            if len(self.worker_pids()) == self.workers and self._healthy():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn was not ready within {ready_within:.0f} s; see {log}")

    def _healthy(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", "/health/", headers={"X-Forwarded-Proto": "https"})
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def worker_pids(self) -> list[int]:
        return children_of(self.process.pid) if self.process else []

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            # Its own session: the master and its workers, nothing else.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def __enter__(self) -> Gunicorn:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class Watchdog(threading.Thread):
    """Samples the workers' RSS; kills a worker over `rss_limit` bytes or past `deadline`
    seconds, so that a broken endpoint can neither exhaust memory nor hang the bench."""

    def __init__(self, pids: list[int], *, rss_limit: int, deadline: float) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.rss_limit = rss_limit
        self.started = time.monotonic()
        self.deadline = self.started + deadline
        self.peak = 0
        self.killed: str | None = None  # why and when it killed a worker
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for pid in self.pids:
                rss = proc_status(pid).get("VmRSS", 0)
                self.peak = max(self.peak, rss)
                over_memory = rss > self.rss_limit
                if over_memory or time.monotonic() > self.deadline:
                    reason = (
                        f"RSS over {self.rss_limit // MIB} MiB" if over_memory else "time limit"
                    )
                    self.killed = f"{reason}, killed after {time.monotonic() - self.started:.0f} s"
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    self.done.set()
                    return
            self.done.wait(0.05)

    def stop(self) -> None:
        self.done.set()
        self.join(5)
