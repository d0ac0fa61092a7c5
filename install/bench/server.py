"""The server under test: gunicorn with the production settings (install/gunicorn.conf.py) on a loopback port.

The benchmark changes only what a measurement needs: the bind address and worker count (the config's own
environment overrides), no worker recycling (``--max-requests 0``, so peak memory is not reset behind its back),
the access log to a file, the rate limits raised, and the app module (install/bench/wsgi.py: production app plus
the ceiling route and the statement count).
"""
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONFIG = ROOT / 'install' / 'gunicorn.conf.py'
RAISED_LIMIT = '10000000/minute'
START_TIMEOUT_SECONDS = 60
# /proc/<pid>/clear_refs: writing 5 resets the peak resident set size (VmHWM) of the process.
RESET_PEAK_RSS = '5'


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


class Server:
    """A gunicorn master and its workers, started by :meth:`start` and stopped by :meth:`stop`."""

    def __init__(self, environ: dict[str, str], workers: int, folder: Path) -> None:
        self.port = free_port()
        self.workers = workers
        self.folder = folder
        self.environ = environ
        self.process: subprocess.Popen | None = None

    def start(self, prefix: str) -> None:
        """Start gunicorn and wait until every worker answers the health check."""
        (self.folder / 'config.py').write_text('"""Benchmark: every key comes from the environment."""\n')
        environ = {**os.environ, **self.environ,
                   'GUNICORN_BIND': f'127.0.0.1:{self.port}', 'GUNICORN_WORKERS': str(self.workers),
                   'API_READ_LIMIT': RAISED_LIMIT, 'API_WRITE_LIMIT': RAISED_LIMIT,
                   'API_ANONYMOUS_LIMIT': RAISED_LIMIT,
                   'PYTHONPATH': os.pathsep.join(filter(None, [str(self.folder), os.environ.get('PYTHONPATH')]))}
        command = [sys.executable, '-m', 'gunicorn', '-c', str(GUNICORN_CONFIG), '--max-requests', '0',
                   '--access-logfile', str(self.folder / 'access.log'),
                   '--error-logfile', str(self.folder / 'error.log'), 'install.bench.wsgi:app']
        with (self.folder / 'server.log').open('ab') as output:  # the app's own logging (stderr)
            self.process = subprocess.Popen(command, env=environ, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=output,
                                            stderr=subprocess.STDOUT)
        self._wait_until_ready(prefix + '/system/health')

    def _wait_until_ready(self, path: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise SystemExit(f'gunicorn exited with {self.process.returncode}:\n{self.log_tail()}')
            if len(self.worker_pids()) == self.workers and self._answers(path):
                return
            time.sleep(0.2)
        self.stop()
        raise SystemExit(f'gunicorn did not answer within {START_TIMEOUT_SECONDS} s:\n{self.log_tail()}')

    def _answers(self, path: str) -> bool:
        connection = http.client.HTTPConnection('127.0.0.1', self.port, timeout=5)
        try:
            connection.request('GET', path)
            return connection.getresponse().status in (200, 503)
        except OSError:
            return False
        finally:
            connection.close()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of gunicorn's error log and of the app's output (the folder is gone after the run)."""
        tails = []
        for name in ('error.log', 'server.log'):
            path = self.folder / name
            if path.exists():
                tails += path.read_text(errors='replace').splitlines()[-lines:]
        return '\n'.join(tails)

    def worker_pids(self) -> list[int]:
        """The pids of the master's workers (its child processes), from /proc."""
        if self.process is None:
            return []
        children = Path(f'/proc/{self.process.pid}/task/{self.process.pid}/children')
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def reset_peak_memory(self) -> bool:
        """Reset every worker's peak RSS, so the next reading covers only what follows; False if refused."""
        try:
            for pid in self.worker_pids():
                Path(f'/proc/{pid}/clear_refs').write_text(RESET_PEAK_RSS)
        except OSError:
            return False
        return True

    def peak_memory_kib(self) -> int:
        """The largest peak RSS (VmHWM) among the workers, in KiB."""
        peaks = [0]
        for pid in self.worker_pids():
            try:
                status = Path(f'/proc/{pid}/status').read_text()
            except OSError:
                continue
            peaks += [int(line.split()[1]) for line in status.splitlines() if line.startswith('VmHWM:')]
        return max(peaks)

    def stop(self) -> None:
        """Stop the master (it stops its workers) and wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=35)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
