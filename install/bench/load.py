"""The load: a fixed number of concurrent clients calling one URL over loopback, and what they saw.

Each client is a thread with its own HTTP connection (gunicorn's sync workers close it after every response, so
a client reconnects per request, as through nginx). A phase ends after a fixed number of requests or seconds,
whichever comes first (requests in flight at the deadline still complete and count).
"""
import http.client
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

QUERY_COUNT_HEADER = 'X-Bench-Queries'  # set by install/bench/wsgi.py
TIMEOUT_SECONDS = 60


@dataclass
class Phase:
    """What the clients of one phase observed: latencies (s), statuses and statement counts per request."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    queries: list[int] = field(default_factory=list)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, latency: float, status: int, queries: int | None) -> None:
        """Record one request (thread-safe)."""
        with self.lock:
            self.latencies.append(latency)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if queries is not None:
                self.queries.append(queries)

    def summary(self) -> dict[str, Any]:
        """Requests/s, latency percentiles (ms), statement counts and statuses of the phase."""
        ordered = sorted(self.latencies)
        count = len(ordered)
        return {
            'requests': count,
            'requests_per_second': round(count / self.seconds, 1) if self.seconds else 0.0,
            'p50_ms': _percentile_ms(ordered, 50), 'p95_ms': _percentile_ms(ordered, 95),
            'p99_ms': _percentile_ms(ordered, 99),
            'queries_median': statistics.median_low(self.queries) if self.queries else None,
            'queries_max': max(self.queries) if self.queries else None,
            'statuses': {str(status): seen for status, seen in sorted(self.statuses.items())},
        }


def _percentile_ms(ordered: list[float], percent: int) -> float | None:
    """Nearest-rank percentile of sorted latencies, in milliseconds."""
    if not ordered:
        return None
    rank = max(1, -(-percent * len(ordered) // 100))
    return round(ordered[rank - 1] * 1000, 1)


def call(port: int, path: str, headers: dict[str, str]) -> tuple[int, int | None, bytes]:
    """One GET on 127.0.0.1: status, statement count header (None when absent) and body."""
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=TIMEOUT_SECONDS)
    try:
        connection.request('GET', path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        counted = response.getheader(QUERY_COUNT_HEADER)
        return response.status, int(counted) if counted is not None else None, body
    finally:
        connection.close()


def run_phase(port: int, path: str, headers: dict[str, str], clients: int, requests: int | None,
              seconds: float | None) -> Phase:
    """``clients`` threads calling ``path`` until ``requests`` were sent or ``seconds`` passed (None: no bound)."""
    phase = Phase()
    issued = [0]
    issue_lock = threading.Lock()
    deadline = None if seconds is None else time.monotonic() + seconds

    def may_send() -> bool:
        with issue_lock:
            if (requests is not None and issued[0] >= requests) or (deadline and time.monotonic() >= deadline):
                return False
            issued[0] += 1
            return True

    def client() -> None:
        while may_send():
            started = time.perf_counter()
            try:
                status, queries, _ = call(port, path, headers)
            except OSError:
                status, queries = 0, None  # connection failure: reported as status 0
            phase.add(time.perf_counter() - started, status, queries)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.seconds = time.perf_counter() - started
    return phase
