"""A small HTTP load client: threads, one keep-alive connection each (http.client)."""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

# As the TLS-terminating proxy in front of production would send them.
BASE_HEADERS = {"X-Forwarded-Proto": "https", "Accept": "application/json"}


@dataclass
class LoadResult:
    """What one variant did in one timed run."""

    ok: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")


def _headers(extra: dict[str, str] | None) -> dict[str, str]:
    return {**BASE_HEADERS, **(extra or {})}


def fetch(
    port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 60.0
) -> tuple[int, dict[str, str], bytes]:
    """One GET: status, headers (lower-case names) and body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=_headers(headers))
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def load(
    port: int,
    path: str,
    *,
    seconds: float,
    concurrency: int,
    expect: int = 200,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> LoadResult:
    """GET `path` from `concurrency` connections for `seconds`; every answer other than
    `expect`, every error and every timeout is counted as a failure, by kind."""
    result = LoadResult()
    lock = threading.Lock()
    sent = _headers(headers)
    start = threading.Barrier(concurrency + 1)
    deadline = 0.0

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        ok, failed, latencies = 0, Counter[str](), []
        start.wait()
        while time.monotonic() < deadline:
            began = time.monotonic()
            try:
                conn.request("GET", path, headers=sent)
                response = conn.getresponse()
                response.read()
                status = response.status
            except TimeoutError:
                failed["timeout"] += 1
                conn.close()
                continue
            except (OSError, http.client.HTTPException) as exc:
                failed[type(exc).__name__] += 1
                conn.close()
                time.sleep(0.05)
                continue
            if status == expect:
                ok += 1
                latencies.append(time.monotonic() - began)
            else:
                failed[f"HTTP {status}"] += 1
        conn.close()
        with lock:
            result.ok += ok
            result.failed.update(failed)
            result.latencies.extend(latencies)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    deadline = began + seconds
    start.wait()
    for thread in threads:
        thread.join(seconds + timeout + 5)
    result.elapsed = time.monotonic() - began
    return result


@dataclass
class Timed:
    """One streamed GET: time to first byte, total time, bytes, and how it ended."""

    status: int | None = None
    ttfb: float | None = None
    total: float | None = None
    size: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200


def timed_get(
    port: int, path: str, *, timeout: float, headers: dict[str, str] | None = None
) -> Timed:
    """GET `path`, reading the body in chunks without keeping it. `timeout` bounds each
    wait on the socket; the caller's watchdog bounds the whole request."""
    timed = Timed()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    began = time.monotonic()
    try:
        conn.request("GET", path, headers=_headers(headers))
        response = conn.getresponse()
        # The status line and headers arrive with the first bytes of the body.
        timed.ttfb = time.monotonic() - began
        timed.status = response.status
        while chunk := response.read(1 << 16):
            timed.size += len(chunk)
        timed.total = time.monotonic() - began
    except TimeoutError:
        timed.error = "timeout"
    except (OSError, http.client.HTTPException) as exc:
        timed.error = f"{type(exc).__name__}: {exc}"[:120]
    finally:
        conn.close()
    if timed.error is None and timed.status != 200:
        timed.error = f"HTTP {timed.status}"
    return timed
