"""The API served as in production: gunicorn with ``install/gunicorn.conf.py`` and ``run:create_app()``.

:class:`Gunicorn` starts the standalone app (4 sync workers unless asked otherwise) on a spare loopback port with
its configuration in environment variables (each key mod_api reads is overridden by its environment variable;
an empty ``config.py`` in a temporary folder satisfies ``run.py``). Its access and error log go to a file of the
test, shown when the server does not come up.

:func:`burst` sends many requests at once over real sockets (asyncio, one connection per request, all opened
together) and returns :class:`Answer` tuples; :func:`call` sends one.
"""
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union
from urllib.error import HTTPError

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name('gunicorn')
START_SECONDS = 60
ANSWER_SECONDS = 60


@dataclass(frozen=True)
class Answer:
    """One HTTP response: status, headers (lower-case names), the body parsed as JSON (None if it is not)."""

    status: int
    headers: dict[str, str]
    body: Any
    seconds: float


def spare_port() -> int:
    """A loopback TCP port nothing listens on (right now)."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


class Gunicorn:
    """``gunicorn -c install/gunicorn.conf.py 'run:create_app()'`` with ``config`` as environment variables."""

    def __init__(self, folder: Path, config: dict[str, Any], workers: int = 4) -> None:
        self.folder = folder
        self.port = spare_port()
        self.log = folder / 'gunicorn.log'
        (folder / 'config.py').write_text('"""Empty: the reliability suite configures the app by environment."""\n')
        self.environ = {**os.environ, **{key: str(value) for key, value in config.items()},
                        'GUNICORN_BIND': f'127.0.0.1:{self.port}', 'GUNICORN_WORKERS': str(workers),
                        'PYTHONPATH': os.pathsep.join([str(folder), str(ROOT)])}
        self.process: Optional[subprocess.Popen] = None

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f'http://127.0.0.1:{self.port}'

    def start(self) -> 'Gunicorn':
        """Start it and wait until the health endpoint answers (any status)."""
        with self.log.open('ab') as log:
            self.process = subprocess.Popen(
                [str(GUNICORN), '-c', str(ROOT / 'install' / 'gunicorn.conf.py'), 'run:create_app()'],
                env=self.environ, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f'gunicorn exited {self.process.returncode}:\n{self.log.read_text()[-3000:]}')
            try:
                call(self, 'GET', '/api/v1/system/health', timeout=2)
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f'gunicorn did not answer:\n{self.log.read_text()[-3000:]}') from None
                time.sleep(0.2)

    def served_seconds(self, path: str, status: int) -> list[float]:
        """How long each request for ``path`` answered ``status`` took inside gunicorn (its access log)."""
        pattern = re.compile(rf'"[A-Z]+ {re.escape(path)}(?:\?\S*)? HTTP/1\.1" {status} \S+ (\d+)ms')
        return [int(match.group(1)) / 1000 for match in pattern.finditer(self.log.read_text())]

    def stop(self) -> None:
        """Stop it (SIGTERM to the process this object started, then wait)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


def _parse(raw: bytes, started: float) -> Answer:
    head, _, body = raw.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(':')
        headers[name.strip().lower()] = value.strip()
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    return Answer(int(lines[0].split()[1]), headers, parsed, time.monotonic() - started)


def _request_bytes(method: str, path: str, headers: dict[str, str], body: Any) -> bytes:
    data = b'' if body is None else json.dumps(body).encode()
    lines = [f'{method} {path} HTTP/1.1', 'Host: 127.0.0.1', 'Connection: close', f'Content-Length: {len(data)}']
    if body is not None:
        lines.append('Content-Type: application/json')
    lines += [f'{name}: {value}' for name, value in headers.items()]
    return ('\r\n'.join(lines) + '\r\n\r\n').encode() + data


async def _send(port: int, request: bytes, gate: asyncio.Event) -> Answer:
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    await gate.wait()
    started = time.monotonic()
    writer.write(request)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), ANSWER_SECONDS)
    writer.close()
    return _parse(raw, started)


async def _burst(port: int, requests: list[bytes]) -> list[Answer]:
    gate = asyncio.Event()
    tasks = [asyncio.ensure_future(_send(port, request, gate)) for request in requests]
    await asyncio.sleep(0.5)  # let every connection open (the listen backlog holds them) before any request goes
    gate.set()
    return list(await asyncio.gather(*tasks))


def burst(server: Gunicorn, method: str, paths: list[str],
          headers: Union[dict[str, str], list[dict[str, str]], None] = None,
          bodies: Optional[list[Any]] = None) -> list[Answer]:
    """Send one request per path, all connections opened first and the requests released together.

    ``headers`` is one set for every request or one per request; ``bodies`` (JSON) one per request.
    """
    header_sets = headers if isinstance(headers, list) else [headers or {}] * len(paths)
    requests = [_request_bytes(method, path, header_sets[index], bodies[index] if bodies else None)
                for index, path in enumerate(paths)]
    return asyncio.run(_burst(server.port, requests))


def call(server: Gunicorn, method: str, path: str, headers: Optional[dict[str, str]] = None, body: Any = None,
         timeout: float = ANSWER_SECONDS) -> Answer:
    """One request (urllib); an HTTP error status is an Answer too, a connection failure raises OSError."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.base + path, data=data, method=method, headers={
        **({'Content-Type': 'application/json'} if data is not None else {}), **(headers or {})})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw, response_headers = response.status, response.read(), response.headers
    except HTTPError as error:
        status, raw, response_headers = error.code, error.read(), error.headers
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return Answer(status, {name.lower(): value for name, value in response_headers.items()}, parsed,
                  time.monotonic() - started)
