"""A real GCS endpoint for tests: gcp-storage-emulator on a free loopback port, with outage controls.

The emulator's own request handler and storage run in this process on a threaded HTTP server, so tests talk
to it with the real google-cloud-storage client over real sockets. A test can make the backend misbehave:

* ``stop()`` closes the listening socket (connections are refused, as when the service is down), ``start()``
  brings it back on the same port with the same objects;
* ``hang()`` (a context manager) accepts connections and reads requests but never answers them until the block
  ends, so clients run into their timeouts;
* ``latency = 0.5`` delays every answer (a slow backend); requests are still served concurrently;
* ``accepting_late()`` (a context manager) leaves connections waiting in the listen backlog (a busy process).

Register the fixtures once for the whole suite with, in ``mod_api_tests/conftest.py``::

    pytest_plugins = ['mod_api_tests.gcs_emulator']

``gcs_emulator`` is function-scoped: it hands out the session's emulator running, empty (the bucket is kept),
without latency or hang, and restarts it after a test that stopped it. ``gcs_config`` is the mod_api
configuration that points at it (``GCS_BUCKET_NAME``, ``API_GCS_ENDPOINT``), to merge into ``make_app(...)``.
"""
import contextlib
import http.server
import threading
import time
from functools import partial
from typing import Any, Iterator, Optional

import pytest
from gcp_storage_emulator.handlers import buckets
from gcp_storage_emulator.server import RequestHandler
from gcp_storage_emulator.storage import Storage as EmulatorStorage

BUCKET = 'mod-api-test-bucket'
HOST = '127.0.0.1'
HANG_LIMIT_SECONDS = 120  # a hung request is released at the latest after this (or when the hang ends)


class _Handler(RequestHandler):
    """The emulator's handler, with the test controls (latency, hang) and one request at a time in storage."""

    server: '_Server'

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        controls = self.server.controls
        with controls.lock:
            controls.requests += 1
        if controls.hanging.is_set():
            controls.released.wait(HANG_LIMIT_SECONDS)
            self.close_connection = True
            return False  # never answered: the client sees its read timeout (or a dropped connection)
        if controls.latency:
            time.sleep(controls.latency)
        return True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        pass


def _serialised(method: str) -> Any:
    base = getattr(RequestHandler, method)

    def handle(self: _Handler) -> None:
        with self.server.controls.storage_lock:  # the emulator's storage is not thread-safe
            base(self)
    return handle


for _method in ('do_GET', 'do_POST', 'do_PUT', 'do_PATCH', 'do_DELETE'):
    setattr(_Handler, _method, _serialised(_method))


class _Controls:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.storage_lock = threading.Lock()
        self.hanging = threading.Event()
        self.released = threading.Event()
        self.latency = 0.0
        self.requests = 0


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: when the accept loop lags (a busy test process), a page's checkers
    # opening MAX_WORKERS connections at once overflow it and the kernel drops the extra SYNs, which clients
    # retry after a second, past the tests' one-second GCS timeout. A real GCS endpoint does not do that.
    request_queue_size = 128
    controls: _Controls


class GcsEmulator:
    """gcp-storage-emulator serving one bucket on loopback, with start/stop/hang/latency controls."""

    def __init__(self, bucket_name: str = BUCKET, host: str = HOST) -> None:
        self.bucket_name = bucket_name
        self.host = host
        self.port = 0
        self.controls = _Controls()
        self._storage = EmulatorStorage(use_memory_fs=True)
        buckets.create_bucket(bucket_name, self._storage)
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._client: Any = None

    @property
    def endpoint(self) -> str:
        """The API endpoint URL (``API_GCS_ENDPOINT``)."""
        return f'http://{self.host}:{self.port}'

    @property
    def running(self) -> bool:
        """True while the emulator accepts connections."""
        return self._server is not None

    @property
    def requests(self) -> int:
        """How many requests reached the emulator so far (answered or not)."""
        return self.controls.requests

    @property
    def latency(self) -> float:
        """Seconds every answer is delayed by."""
        return self.controls.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.controls.latency = seconds

    def config(self) -> dict[str, Any]:
        """mod_api configuration keys pointing at this emulator."""
        return {'GCS_BUCKET_NAME': self.bucket_name, 'API_GCS_ENDPOINT': self.endpoint}

    def start(self) -> None:
        """Listen (again) on the same port, with the objects stored so far."""
        if self._server is not None:
            return
        self.controls.released.clear()
        server = _Server((self.host, self.port), partial(_Handler, self._storage))
        server.controls = self.controls
        self.port = server.server_address[1]
        self._serve(server)
        self._server = server

    def _serve(self, server: _Server) -> None:
        self._thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05},
                                        name=f'gcs-emulator-{self.port}', daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the listening socket: new connections are refused until ``start()``."""
        server, self._server = self._server, None
        if server is None:
            return
        self.controls.released.set()  # let hung requests go
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    @contextlib.contextmanager
    def accepting_late(self) -> Iterator[None]:
        """Within the block, the socket listens but nothing accepts: connections wait in the backlog."""
        server = self._server
        assert server is not None, 'the emulator is stopped'
        server.shutdown()
        try:
            yield
        finally:
            self._serve(server)

    @contextlib.contextmanager
    def hang(self) -> Iterator[None]:
        """Within the block, requests are accepted and read but never answered."""
        self.controls.released.clear()
        self.controls.hanging.set()
        try:
            yield
        finally:
            self.controls.hanging.clear()
            self.controls.released.set()

    def reset(self) -> None:
        """Running, no latency, no hang, an empty bucket, the request counter at zero."""
        self.controls.hanging.clear()
        self.controls.latency = 0.0
        self.start()
        self.controls.released.clear()
        with self.controls.storage_lock:
            self._storage.wipe(keep_buckets=True)
        self.controls.requests = 0

    def client(self) -> Any:
        """A google-cloud-storage client of the emulator (anonymous credentials), made once."""
        if self._client is None:
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage as gcs

            from mod_api.storage import without_background_fetches
            self._client = without_background_fetches(gcs.Client(
                project='mod-api-test', credentials=AnonymousCredentials(),
                client_options={'api_endpoint': self.endpoint}))
        return self._client

    def bucket(self) -> Any:
        """The test bucket, through ``client()``."""
        return self.client().bucket(self.bucket_name)

    def put(self, name: str, data: bytes, content_type: str = 'application/octet-stream') -> None:
        """Store an object (the emulator must be running)."""
        self.bucket().blob(name).upload_from_string(data, content_type=content_type, timeout=10)

    def delete(self, name: str) -> None:
        """Delete an object (the emulator must be running)."""
        self.bucket().blob(name).delete(timeout=10)


@pytest.fixture(scope='session')
def gcs_emulator_server() -> Iterator[GcsEmulator]:
    """The session's emulator (started once)."""
    emulator = GcsEmulator()
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture()
def gcs_emulator(gcs_emulator_server: GcsEmulator) -> Iterator[GcsEmulator]:
    """The emulator, running and empty; whatever the test did to it is undone afterwards."""
    gcs_emulator_server.reset()
    yield gcs_emulator_server
    gcs_emulator_server.controls.hanging.clear()
    gcs_emulator_server.controls.released.set()
    gcs_emulator_server.latency = 0.0
    gcs_emulator_server.start()


@pytest.fixture()
def gcs_config(gcs_emulator: GcsEmulator) -> dict[str, Any]:
    """mod_api configuration for the emulator: ``make_app(**gcs_config)``."""
    return gcs_emulator.config()
