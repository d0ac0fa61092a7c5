"""Where the platform's files live: the local sample repository and, when configured, the GCS bucket.

Paths. Every file is named by a path relative to ``SAMPLE_REPOSITORY`` (``TestResults/<hash>.srt``,
``LogFiles/12.txt``, ``TestFiles/media/<sha>.xml``); the GCS object name is the same path (production mounts the
bucket there with gcsfuse). :func:`safe_relative` validates every path before any filesystem or bucket is
touched: no empty, absolute, ``.`` or ``..`` parts, no NUL, backslash or control characters, at most 1024 bytes.
For the local backend the path is also resolved (symlinks followed) and must stay inside the repository: a
symlink that leads out is refused (reported as a problem of the local backend, never followed).

Presence and ``storage_status``. :meth:`Storage.status` / :meth:`Storage.status_many` look the path up in each
configured backend and report a :class:`BackendState` per backend (present, size, modification time, or the
problem met). A backend that errors, times out, or cannot be reached counts as not having the file; the problem
is logged (error type only, never credentials or response bodies) and nothing is raised. ``storage_status``:

* ``ok``: present in every configured backend. With GCS configured that means local AND GCS; with GCS not
  configured (``GCS_BUCKET_NAME`` empty) the local folder is the only storage there is, so present there = ok.
* ``degraded``: present in some configured backends but not all (only possible with GCS configured).
* ``missing``: present in none.

Bounded time. Each GCS call carries ``API_GCS_TIMEOUT_SECONDS`` and no retries. :meth:`Storage.status_many`
checks many paths on worker threads under one overall budget (default: the GCS timeout + 1 s): a check still
running at the deadline counts as absent. Each backend's checkers take the paths in turn (a hanging path holds up
only its own checker). GCS starts with ``MAX_WORKERS`` of them; the local folder starts with one, enough for a
local disk, and gets ``MAX_WORKERS`` when that one is not done after ``RAMP_SECONDS`` (a network mount, as gcsfuse
is in production). The first GCS failure within a request marks GCS unavailable for the rest of that request (the
remaining GCS checks and reads skip it), so a down or hanging bucket costs one timeout per request, not one per
file. Results are cached per request (in the WSGI environ), so asking twice about a path in one request costs
nothing.

Reading. :meth:`Storage.read_bytes` reads a whole (small) file, from the local copy when there is one, else from
GCS; over ``max_bytes`` it raises :class:`FileTooLarge` (with the size) from the metadata, without reading the
content. :meth:`Storage.open_lines` iterates the lines of a huge file (logs) in bounded memory, from any byte
offset, and :meth:`Storage.stream` yields its chunks (for a streaming download response); both expose the
file's modification time (local mtime, GCS ``updated``). Errors are :class:`StorageError` subclasses, never a
bare OSError or a google exception: :class:`FileMissing` (in no backend, including a file that vanished
between a check and the read, and a GCS failure, which counts as absent), :class:`FileUnreadable` (the local
file exists but cannot be read: permissions, not a regular file, an I/O error; or a stream already under way
fails), :class:`FileTooLarge`, :class:`UnsafePath`.

Download URLs. :meth:`Storage.download_url` returns None for a missing file. For a file in GCS it returns a V4
signed GCS URL valid ``min(GCS_SIGNED_URL_EXPIRY_LIMIT, API_SIGNED_URL_MINUTES)`` minutes, but only when the
client holds signing credentials (a service-account key): anonymous (emulator) or token-only credentials cannot
sign, and then, as for a file that is only local, the URL is the API's own: a short-lived itsdangerous token
(:mod:`mod_api.signing`) handed to the caller's URL builder, whose route streams :meth:`Storage.stream`.

The GCS client. ``API_GCS_ENDPOINT`` set (the emulator): anonymous credentials on that endpoint. Otherwise the
service-account file ``INSTALL_FOLDER``/``SERVICE_ACCOUNT_FILE`` when configured, else Google's default
credentials. It is created lazily, once per app (per :class:`Storage`), and reused by every thread; a creation
failure is logged and reported (``client_error``, health check) and retried after ``CLIENT_RETRY_SECONDS``,
never raised into a request.
"""
import errno
import logging
import os
import re
import stat
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional
from urllib.parse import quote

from flask import Flask, has_request_context, request

log = logging.getLogger('mod_api')

LOCAL = 'local'
GCS = 'gcs'
MAX_WORKERS = 8  # checker threads per backend in one status_many call
# The checkers a backend starts with: one for the local folder (a local disk answers a page of checks in a
# millisecond or two, sooner than threads taking turns with the GIL would), all of them for GCS (every check is a
# network round trip). A backend whose first checkers are not done after RAMP_SECONDS (a network mount) gets all.
FIRST_CHECKERS = {LOCAL: 1, GCS: MAX_WORKERS}
RAMP_SECONDS = 0.01
MAX_PATH_BYTES = 1024  # GCS object names are at most 1024 bytes of UTF-8
MAX_FILENAME_LENGTH = 255
CLIENT_RETRY_SECONDS = 30.0
LOCAL_CHUNK_BYTES = 256 * 1024
GCS_CHUNK_BYTES = 1024 * 1024
MAX_LINE_BYTES = 64 * 1024
_CACHE_KEY = 'mod_api.storage_status_cache'


# --------------------------------------------------------------------------------------------------- errors

class StorageError(Exception):
    """Base of every error this module raises about a file."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


class UnsafePath(StorageError, ValueError):
    """A path that would leave the sample repository (absolute, ``..``, NUL, backslash, control characters)."""

    def __init__(self, path: Any, reason: str = 'unsafe repository path') -> None:
        super().__init__(path if isinstance(path, str) else repr(path), f'{reason}: {path!r}'[:300])
        self.reason = reason


class FileMissing(StorageError):
    """The file is in no backend (or vanished before or while being read).

    ``checked`` lists the backends looked at (``('local', 'gcs')``); ``problems`` maps a backend to what went
    wrong there when it was not simply absent (an error or timeout, which counts as absent).
    """

    def __init__(self, path: str, checked: tuple[str, ...], problems: Optional[dict[str, str]] = None) -> None:
        super().__init__(path, f'{path} is in no storage backend (checked: {", ".join(checked)})')
        self.checked = checked
        self.problems = dict(problems or {})


class FileUnreadable(StorageError):
    """The file exists but cannot be read (permissions, not a regular file, an I/O or backend error midway)."""

    def __init__(self, path: str, reason: str, backend: str = LOCAL) -> None:
        super().__init__(path, f'{path} cannot be read from {backend}: {reason}')
        self.reason = reason
        self.backend = backend


class FileTooLarge(StorageError):
    """The file is larger than the caller accepts; ``size`` is its size in bytes, ``limit`` the maximum."""

    def __init__(self, path: str, size: int, limit: int) -> None:
        super().__init__(path, f'{path} is {size} bytes, over the limit of {limit}')
        self.size = size
        self.limit = limit


def describe(error: BaseException) -> str:
    """A loggable description of a backend error: its type, HTTP code or OS reason; never a message body."""
    name = type(error).__name__
    code = getattr(error, 'code', None)
    if isinstance(code, int):
        return f'{name} ({code})'
    if isinstance(error, OSError) and error.strerror:
        return f'{name}: {error.strerror}'
    return name


# ---------------------------------------------------------------------------------------------- validation

_CONTROL_OR_BACKSLASH = re.compile(r'[\x00-\x1f\x7f\\]')
_UNFIT_IN_FILENAME = re.compile(r'[\x00-\x1f\x7f/\\"]')  # control characters, separators, double quote

def safe_relative(relative: str) -> tuple[str, ...]:
    """Validate a repository-relative path such as ``LogFiles/12.txt`` and return its parts; raises UnsafePath."""
    if not isinstance(relative, str) or not relative:
        raise UnsafePath(relative, 'empty or not a string')
    if _CONTROL_OR_BACKSLASH.search(relative):
        raise UnsafePath(relative, 'NUL, control character or backslash')
    parts = tuple(relative.split('/'))
    if relative.startswith('/') or any(part in ('..', '.', '') for part in parts):
        raise UnsafePath(relative, 'absolute path, empty, "." or ".." part')
    try:
        size = len(relative.encode('utf-8'))
    except UnicodeEncodeError:
        raise UnsafePath(relative, 'not encodable as UTF-8') from None
    if size > MAX_PATH_BYTES:
        raise UnsafePath(relative, f'longer than {MAX_PATH_BYTES} bytes')
    return parts


def check_filename(filename: str) -> str:
    """A download file name fit for a Content-Disposition header; raises ValueError.

    1-255 characters, no separators, quotes or control characters (:func:`safe_filename` makes one from any name).
    """
    if (not isinstance(filename, str) or not filename or len(filename) > MAX_FILENAME_LENGTH
            or filename in ('.', '..') or _UNFIT_IN_FILENAME.search(filename)):
        raise ValueError(f'unfit download file name {filename!r}'[:300])
    return filename


def safe_filename(name: str, default: str = 'download') -> str:
    """``name`` made fit for :func:`check_filename`: bad characters become ``_``, at most 255 characters."""
    cleaned = _UNFIT_IN_FILENAME.sub('_', name or '').strip()
    if cleaned in ('', '.', '..'):
        return default
    if len(cleaned) > MAX_FILENAME_LENGTH:
        stem, dot, extension = cleaned.rpartition('.')
        if dot and 0 < len(extension) <= 16:
            cleaned = stem[:MAX_FILENAME_LENGTH - len(extension) - 1] + '.' + extension
        else:
            cleaned = cleaned[:MAX_FILENAME_LENGTH]
    return cleaned


def content_disposition(filename: str) -> str:
    """``attachment`` with the file name: an ASCII fallback, plus RFC 6266 ``filename*`` for other names."""
    check_filename(filename)
    fallback = ''.join(char if 32 <= ord(char) < 127 else '_' for char in filename)
    value = f'attachment; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def without_background_fetches(client: Any) -> Any:
    """``client`` without google-cloud-storage's bucket-metadata cache (3.17+).

    On its first call about a bucket that cache starts a background thread fetching the bucket's metadata
    (10 s timeout, default retries: minutes against a down backend), only to label OpenTelemetry spans. mod_api
    traces nothing, and every GCS call it makes must stay within ``API_GCS_TIMEOUT_SECONDS``; the library treats
    a missing cache as disabled.
    """
    if getattr(client, '_bucket_metadata_cache', None) is not None:
        client._bucket_metadata_cache = None
    return client


# ------------------------------------------------------------------------------------------------ statuses

@dataclass(frozen=True)
class BackendState:
    """One backend's answer about one path: present (with size and modification time), or why not."""

    present: bool
    size: Optional[int] = None
    mtime: Optional[datetime] = None
    problem: Optional[str] = None  # an error or timeout (counted as absent); None when simply absent/present


ABSENT = BackendState(present=False)


@dataclass(frozen=True)
class ObjectStatus:
    """Where one path is: the local state, and the GCS state (None when GCS is not configured)."""

    path: str
    local: BackendState
    gcs: Optional[BackendState]

    @property
    def checked(self) -> tuple[str, ...]:
        """The backends looked at, in order (``('local',)`` or ``('local', 'gcs')``)."""
        return (LOCAL,) if self.gcs is None else (LOCAL, GCS)

    @property
    def storage_status(self) -> str:
        """``ok`` in every configured backend, ``degraded`` in some, ``missing`` in none."""
        states = [self.local] if self.gcs is None else [self.local, self.gcs]
        found = sum(state.present for state in states)
        return 'missing' if found == 0 else 'ok' if found == len(states) else 'degraded'

    @property
    def present(self) -> bool:
        """True when at least one backend has the file."""
        return self.local.present or bool(self.gcs and self.gcs.present)

    @property
    def in_gcs(self) -> bool:
        """True when the GCS backend has the file."""
        return bool(self.gcs and self.gcs.present)

    @property
    def size(self) -> Optional[int]:
        """The size in bytes (local copy first), None when missing."""
        for state in (self.local, self.gcs):
            if state is not None and state.present:
                return state.size
        return None

    @property
    def mtime(self) -> Optional[datetime]:
        """The modification time (local copy first, UTC), None when missing."""
        for state in (self.local, self.gcs):
            if state is not None and state.present:
                return state.mtime
        return None

    @property
    def problems(self) -> dict[str, str]:
        """Backend name → problem met there (errors and timeouts only)."""
        named = ((LOCAL, self.local), (GCS, self.gcs))
        return {name: state.problem for name, state in named if state is not None and state.problem}


class StatusCache:
    """Statuses already known in one request, and whether GCS failed during it (then it is not asked again)."""

    def __init__(self) -> None:
        self.statuses: dict[str, ObjectStatus] = {}
        self.gcs_problem: Optional[str] = None
        self.lock = threading.Lock()

    def mark_gcs_unavailable(self, problem: str) -> bool:
        """Remember the first GCS failure; True when this call was the first."""
        with self.lock:
            if self.gcs_problem is not None:
                return False
            self.gcs_problem = problem
            return True


class _Batch:
    """The paths one backend has to check in one :meth:`Storage.status_many` call, taken in turn by its checkers.

    Each checker (a thread running :meth:`drain`) takes the next path until none is left or the deadline has
    passed, so a slow path holds up only its own checker, and a checker that starts late takes nothing.
    """

    def __init__(self, paths: Iterable[str], check: Callable[[str], BackendState], deadline: float) -> None:
        self.found: dict[str, BackendState] = {}
        self._pending = iter(paths)
        self._check = check
        self._deadline = deadline
        self._lock = threading.Lock()

    def _next(self) -> Optional[str]:
        with self._lock:
            return next(self._pending, None) if time.monotonic() < self._deadline else None

    def drain(self) -> None:
        """Check paths until none is left or the deadline has passed; a failing check counts as absent."""
        while (path := self._next()) is not None:
            try:
                self.found[path] = self._check(path)
            except Exception as error:  # noqa: BLE001 - one failing check must not lose the others
                log.error('Storage: check of %s failed unexpectedly: %s', path, describe(error))
                self.found[path] = BackendState(present=False, problem=describe(error))


# --------------------------------------------------------------------------------------------- open files

@dataclass(frozen=True)
class Line:
    """One line of a file: its text (no line terminator) and its byte range ``[start, end)`` in the file.

    ``end`` is where the next line starts: a cursor that stores it resumes exactly after this line. A line
    longer than the reader's ``max_line_bytes`` comes as several consecutive Line pieces.
    """

    start: int
    end: int
    text: str


class OpenedFile:
    """A file opened in one backend: size, modification time, and ranged reads."""

    backend: str

    def __init__(self, path: str, size: int, mtime: Optional[datetime]) -> None:
        self.path = path
        self.size = size
        self.mtime = mtime

    def read_range(self, start: int, length: int) -> bytes:
        """Up to ``length`` bytes from offset ``start`` (empty at the end of the file)."""
        raise NotImplementedError

    def read_all(self, max_bytes: int) -> bytes:
        """The whole content, or FileTooLarge when it exceeds ``max_bytes``."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the file (idempotent)."""

    def __enter__(self) -> 'OpenedFile':
        """The file itself (closed on exit)."""
        return self

    def __exit__(self, *exc: Any) -> None:
        """Close."""
        self.close()


class _LocalFile(OpenedFile):
    backend = LOCAL

    def __init__(self, path: str, handle: Any, size: int, mtime: datetime) -> None:
        super().__init__(path, size, mtime)
        self._handle = handle

    def read_range(self, start: int, length: int) -> bytes:
        try:
            self._handle.seek(start)
            return self._handle.read(length)
        except (OSError, ValueError) as error:
            raise FileUnreadable(self.path, describe(error)) from None

    def read_all(self, max_bytes: int) -> bytes:
        if self.size > max_bytes:
            raise FileTooLarge(self.path, self.size, max_bytes)
        data = self.read_range(0, max_bytes + 1)  # the file may have grown since fstat
        if len(data) > max_bytes:
            raise FileTooLarge(self.path, max(len(data), self.size), max_bytes)
        return data

    def close(self) -> None:
        try:
            self._handle.close()
        except OSError:
            pass


class _GcsFile(OpenedFile):
    backend = GCS

    def __init__(self, path: str, blob: Any, timeout: float) -> None:
        updated = getattr(blob, 'updated', None) or getattr(blob, 'time_created', None)
        super().__init__(path, int(blob.size or 0), updated)
        self._blob = blob  # from get_blob: its media link names the generation, so reads see one version
        self._timeout = timeout

    def _download(self, **kwargs: Any) -> bytes:
        from google.api_core.exceptions import NotFound
        try:
            return self._blob.download_as_bytes(timeout=self._timeout, retry=None, **kwargs)
        except NotFound:
            raise FileMissing(self.path, (GCS,), {GCS: 'vanished while being read'}) from None
        except Exception as error:  # noqa: BLE001 - any backend failure becomes a StorageError
            log.warning('GCS read of %s failed: %s', self.path, describe(error))
            raise FileUnreadable(self.path, describe(error), GCS) from None

    def read_range(self, start: int, length: int) -> bytes:
        if start >= self.size or length <= 0:
            return b''
        end = min(start + length, self.size) - 1  # inclusive
        return self._download(start=start, end=end, checksum=None)

    def read_all(self, max_bytes: int) -> bytes:
        if self.size > max_bytes:
            raise FileTooLarge(self.path, self.size, max_bytes)
        if self.size == 0:
            return b''
        data = self._download(start=0, end=max_bytes, checksum=None)  # never more than max_bytes + 1
        if len(data) > max_bytes:
            raise FileTooLarge(self.path, len(data), max_bytes)
        return data


class ChunkStream:
    """An iterator of a file's bytes in chunks, closing the file at the end (a WSGI response body)."""

    def __init__(self, opened: OpenedFile, start: int = 0, chunk_size: Optional[int] = None) -> None:
        self.file = opened
        self.start = start
        self.chunk_size = chunk_size or (GCS_CHUNK_BYTES if opened.backend == GCS else LOCAL_CHUNK_BYTES)

    path = property(lambda self: self.file.path, doc='The repository path.')
    backend = property(lambda self: self.file.backend, doc="'local' or 'gcs'.")
    size = property(lambda self: self.file.size, doc='Size in bytes when opened.')
    mtime = property(lambda self: self.file.mtime, doc='Modification time (UTC).')

    def __iter__(self) -> Iterator[bytes]:
        """The chunks from ``start`` to the end of the file; the file is closed afterwards."""
        position = self.start
        try:
            while True:
                chunk = self.file.read_range(position, self.chunk_size)
                if not chunk:
                    return
                position += len(chunk)
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        """Release the file (idempotent; WSGI servers call it when the response ends)."""
        self.file.close()

    def __enter__(self) -> 'ChunkStream':
        """The stream itself (closed on exit)."""
        return self

    def __exit__(self, *exc: Any) -> None:
        """Close."""
        self.close()


class LineReader(ChunkStream):
    """Iterates :class:`Line` objects from byte offset ``start`` in bounded memory (chunked reads).

    Lines end at a line feed (a carriage return before it is dropped too); text is decoded as UTF-8 with replacement
    characters. A line longer than ``max_line_bytes`` is yielded in pieces of that size (a multi-byte character
    cut at a piece boundary shows as replacement characters). ``start`` should be a line start (0 or a previous
    Line's ``end``).
    """

    def __init__(self, opened: OpenedFile, start: int = 0, max_line_bytes: int = MAX_LINE_BYTES,
                 chunk_size: Optional[int] = None) -> None:
        if start < 0:
            raise ValueError('start must be 0 or more')
        if max_line_bytes < 1:
            raise ValueError('max_line_bytes must be positive')
        super().__init__(opened, start, chunk_size)
        self.max_line_bytes = max_line_bytes

    def __iter__(self) -> Iterator[Line]:  # type: ignore[override]
        """The lines from ``start`` to the end of the file; the file is closed afterwards."""
        buffer = b''
        buffer_start = self.start  # file offset of buffer[0]
        for chunk in super().__iter__():
            buffer += chunk
            index = 0
            while True:
                # the terminator (\n or \r\n) does not count towards max_line_bytes
                newline = buffer.find(b'\n', index, index + self.max_line_bytes + 2)
                if newline != -1 and (newline - index <= self.max_line_bytes or buffer[newline - 1] == 13):
                    yield self._line(buffer_start + index, buffer[index:newline + 1])
                    index = newline + 1
                elif len(buffer) - index > self.max_line_bytes + 1 or newline != -1:
                    yield self._line(buffer_start + index, buffer[index:index + self.max_line_bytes])
                    index += self.max_line_bytes
                else:
                    break
            buffer = buffer[index:]
            buffer_start += index
        while buffer:  # the last line, without a terminator
            piece = buffer[:self.max_line_bytes]
            yield self._line(buffer_start, piece)
            buffer, buffer_start = buffer[len(piece):], buffer_start + len(piece)

    @staticmethod
    def _line(start: int, raw: bytes) -> Line:
        text = raw[:-1] if raw.endswith(b'\n') else raw
        if text.endswith(b'\r'):
            text = text[:-1]
        return Line(start=start, end=start + len(raw), text=text.decode('utf-8', errors='replace'))


# ---------------------------------------------------------------------------------------------- the storage

class Storage:
    """The two storage backends of one app: a local folder and an optional GCS bucket."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.root = Path(config['SAMPLE_REPOSITORY'])
        self.bucket_name = config['GCS_BUCKET_NAME']
        self.endpoint = config['API_GCS_ENDPOINT']
        self.timeout = config['API_GCS_TIMEOUT_SECONDS']
        self.url_minutes = min(config['GCS_SIGNED_URL_EXPIRY_LIMIT'], config['API_SIGNED_URL_MINUTES'])
        account_file = config['SERVICE_ACCOUNT_FILE']
        self.credentials_file = (os.path.join(config['INSTALL_FOLDER'], account_file) if account_file else '')
        from mod_api.signing import DownloadSigner  # signing imports this module's validation
        self.signer = DownloadSigner.from_config(config)
        self.client_error: Optional[str] = None
        self._client: Any = None
        self._bucket: Any = None
        self._client_failed_at: Optional[float] = None
        self._client_lock = threading.Lock()

    # ------------------------------------------------------------------ configuration and the GCS client

    @property
    def gcs_configured(self) -> bool:
        """True when a bucket name is configured."""
        return bool(self.bucket_name)

    @property
    def backends(self) -> tuple[str, ...]:
        """The configured backends, in lookup order: ``('local',)`` or ``('local', 'gcs')``."""
        return (LOCAL, GCS) if self.gcs_configured else (LOCAL,)

    def _make_client(self) -> Any:
        from google.cloud import storage as gcs
        if self.endpoint:
            from google.auth.credentials import AnonymousCredentials
            client = gcs.Client(project='mod-api', credentials=AnonymousCredentials(),
                                client_options={'api_endpoint': self.endpoint})
        elif self.credentials_file:
            client = gcs.Client.from_service_account_json(self.credentials_file)
        else:
            client = gcs.Client()
        return without_background_fetches(client)

    def client(self) -> Any:
        """The google-cloud-storage client (made on first use, then reused), or None.

        None when GCS is not configured or the client cannot be made (``client_error`` says why; retried after
        ``CLIENT_RETRY_SECONDS``).
        """
        if not self.gcs_configured:
            return None
        with self._client_lock:
            if self._client is not None:
                return self._client
            if self._client_failed_at is not None and time.monotonic() - self._client_failed_at < CLIENT_RETRY_SECONDS:
                return None
            try:
                self._client = self._make_client()
            except Exception as error:  # noqa: BLE001 - reported, never raised into a request
                self._client_failed_at = time.monotonic()
                self.client_error = f'GCS client unavailable ({describe(error)})'
                log.error('Could not create the GCS client: %s', describe(error))
                return None
            self._client_failed_at = None
            self.client_error = None
            return self._client

    def bucket(self) -> Any:
        """The bucket object (no network call), or None when GCS is not configured or has no client."""
        client = self.client()
        if client is None:
            return None
        if self._bucket is None:
            self._bucket = client.bucket(self.bucket_name)
        return self._bucket

    @property
    def can_sign_urls(self) -> bool:
        """True when the GCS client holds credentials that can sign V4 URLs (a service-account key)."""
        client = self.client()
        if client is None:
            return False
        from google.auth.credentials import Signing
        return isinstance(getattr(client, '_credentials', None), Signing)

    # ------------------------------------------------------------------------------- health checks

    def check_local(self) -> Optional[str]:
        """None when the repository folder is readable, else what is wrong."""
        if not self.root.is_dir():
            return f'{self.root.name or self.root} is not a folder'
        if not os.access(self.root, os.R_OK | os.X_OK):
            return 'sample repository is not readable'
        return None

    def check_gcs(self) -> Optional[str]:
        """None when the bucket answers a cheap metadata call within the timeout, else what is wrong."""
        bucket = self.bucket()
        if bucket is None:
            return self.client_error or 'GCS is not configured'
        try:
            if not bucket.exists(timeout=self.timeout, retry=None):
                return f'bucket {self.bucket_name} does not exist'
        except Exception as error:  # noqa: BLE001 - any failure of the backend is reported, not raised
            log.warning('GCS check failed: %s', describe(error))
            return f'GCS unreachable ({describe(error)})'
        return None

    # ------------------------------------------------------------------------------------------ paths

    def resolved_root(self) -> str:
        """The repository folder with its symlinks resolved (a syscall per part: resolve it once per batch)."""
        return os.path.realpath(self.root)

    def local_path(self, relative: str, root: Optional[str] = None) -> str:
        """The resolved local path of a repository-relative path; UnsafePath when it leads outside.

        ``root`` is :meth:`resolved_root`, passed by a caller that looks up many paths in a row.
        """
        parts = safe_relative(relative)
        root = self.resolved_root() if root is None else root
        target = os.path.realpath(os.path.join(root, *parts))
        if not target.startswith(os.path.join(root, '')):
            raise UnsafePath(relative, 'resolves outside the sample repository')
        try:
            os.stat(target)  # realpath leaves a symlink loop in place: only following it tells
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise UnsafePath(relative, 'symlink loop') from None
        return target

    # -------------------------------------------------------------------------------------- presence

    def _local_target(self, relative: str, folders: dict[str, str]) -> str:
        """:meth:`local_path` of a validated path, with each folder resolved once per ``folders`` (its cache).

        A file that is not a symlink is its resolved folder joined with its name; only a symlink is resolved in
        full. (A page of checks is mostly files of one folder: resolving each path in full cost more than the stat.)
        """
        folder, _, name = relative.rpartition('/')
        if '' not in folders:
            folders[''] = self.resolved_root()
        if folder not in folders:
            folders[folder] = self.local_path(folder, folders[''])
        target = os.path.join(folders[folder], name)
        return self.local_path(relative, folders['']) if os.path.islink(target) else target

    def _local_state(self, path: str, folders: dict[str, str]) -> BackendState:
        try:
            target = self._local_target(path, folders)
            info = os.stat(target)
        except (FileNotFoundError, NotADirectoryError):
            return ABSENT
        except (UnsafePath, OSError) as error:
            problem = error.reason if isinstance(error, UnsafePath) else describe(error)
            log.warning('Local check of %s failed: %s', path, problem)
            return BackendState(present=False, problem=problem)
        if not stat.S_ISREG(info.st_mode):
            log.warning('Local check of %s: not a regular file', path)
            return BackendState(present=False, problem='not a regular file')
        if not os.access(target, os.R_OK):
            log.warning('Local check of %s: not readable', path)
            return BackendState(present=False, problem='not readable')
        return BackendState(present=True, size=info.st_size,
                            mtime=datetime.fromtimestamp(info.st_mtime, timezone.utc))

    def _gcs_state(self, path: str, cache: StatusCache) -> BackendState:
        if cache.gcs_problem is not None:
            return BackendState(present=False, problem=f'skipped, GCS unavailable ({cache.gcs_problem})')
        bucket = self.bucket()
        if bucket is None:
            return BackendState(present=False, problem=self.client_error or 'GCS client unavailable')
        try:
            blob = bucket.get_blob(path, timeout=self.timeout, retry=None)
        except Exception as error:  # noqa: BLE001 - a failing backend counts as not having the file
            problem = describe(error)
            if cache.mark_gcs_unavailable(problem):
                log.warning('GCS check of %s failed: %s; GCS counted absent for the rest of this request',
                            path, problem)
            return BackendState(present=False, problem=problem)
        if blob is None:
            return ABSENT
        updated = getattr(blob, 'updated', None) or getattr(blob, 'time_created', None)
        return BackendState(present=True, size=blob.size, mtime=updated)

    @staticmethod
    def request_cache() -> StatusCache:
        """The status cache of the current request (a fresh, unshared one outside requests)."""
        if not has_request_context():
            return StatusCache()
        cache = request.environ.get(_CACHE_KEY)
        if cache is None:
            cache = request.environ[_CACHE_KEY] = StatusCache()
        return cache

    def status(self, path: str, cache: Optional[StatusCache] = None) -> ObjectStatus:
        """Where ``path`` is (see :meth:`status_many`)."""
        return self.status_many([path], cache)[path]

    def status_many(self, paths: Iterable[str], cache: Optional[StatusCache] = None,
                    budget: Optional[float] = None) -> dict[str, ObjectStatus]:
        """Where each path is, checked concurrently within ``budget`` seconds (default: GCS timeout + 1).

        Raises UnsafePath (before any lookup) when one of the paths is invalid. Backend errors and checks not
        finished by the deadline count as absent, with the problem recorded. Results are cached in ``cache``
        (default: the current request's).
        """
        paths = list(paths)
        for path in paths:
            safe_relative(path)
        cache = cache if cache is not None else self.request_cache()
        with cache.lock:
            wanted = list(dict.fromkeys(path for path in paths if path not in cache.statuses))
        if wanted:
            found = self._check(wanted, cache, self.timeout + 1.0 if budget is None else budget)
            with cache.lock:
                cache.statuses.update(found)
        with cache.lock:
            return {path: cache.statuses[path] for path in paths}

    def _check(self, paths: list[str], cache: StatusCache, budget: float) -> dict[str, ObjectStatus]:
        deadline = time.monotonic() + budget
        batches = {LOCAL: _Batch(paths, partial(self._local_state, folders={}), deadline)}
        if self.gcs_configured:
            batches[GCS] = _Batch(paths, partial(self._gcs_state, cache=cache), deadline)
        width = min(MAX_WORKERS, len(paths))  # checkers per backend at most
        executor = ThreadPoolExecutor(max_workers=width * len(batches), thread_name_prefix='mod_api-storage')
        checkers: dict[str, list[Future]] = {}
        try:
            for backend, batch in batches.items():
                checkers[backend] = [executor.submit(batch.drain) for _ in range(min(FIRST_CHECKERS[backend],
                                                                                     len(paths)))]
            if not wait([job for jobs in checkers.values() for job in jobs], timeout=RAMP_SECONDS).not_done:
                return self._statuses(paths, batches, budget)
            for backend, batch in batches.items():  # a slow backend (network, mount): every checker on it
                if not all(job.done() for job in checkers[backend]):
                    checkers[backend] += [executor.submit(batch.drain)
                                          for _ in range(width - len(checkers[backend]))]
            wait([job for jobs in checkers.values() for job in jobs], timeout=max(0.0, deadline - time.monotonic()))
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
        return self._statuses(paths, batches, budget)

    @staticmethod
    def _statuses(paths: list[str], batches: dict[str, '_Batch'], budget: float) -> dict[str, ObjectStatus]:
        """The ObjectStatus of each path from its backends' batches; a path a batch did not reach is absent."""
        late = BackendState(present=False, problem=f'no answer within {budget:g}s')
        for backend, batch in batches.items():
            unanswered = sum(path not in batch.found for path in paths)
            if unanswered:
                log.warning('Storage: %d %s check(s) of %d unanswered within %gs, counted absent',
                            unanswered, backend, len(paths), budget)
        gcs = batches.get(GCS)
        return {path: ObjectStatus(path=path, local=batches[LOCAL].found.get(path, late),
                                   gcs=gcs.found.get(path, late) if gcs is not None else None)
                for path in paths}

    # ----------------------------------------------------------------------------------------- reading

    def _open_local(self, path: str) -> Optional[_LocalFile]:
        """The local file opened, None when absent (or refused); FileUnreadable when present but unreadable."""
        try:
            target = self.local_path(path)
        except UnsafePath as error:
            log.warning('Local read of %s refused: %s', path, error.reason)
            return None
        flags = os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_NONBLOCK', 0) | getattr(os, 'O_CLOEXEC', 0)
        try:
            descriptor = os.open(target, flags)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            log.warning('Local read of %s failed: %s', path, describe(error))
            raise FileUnreadable(path, describe(error)) from None
        try:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode):
                raise FileUnreadable(path, 'not a regular file')
            handle = os.fdopen(descriptor, 'rb')
        except BaseException as error:
            os.close(descriptor)
            if isinstance(error, OSError):
                raise FileUnreadable(path, describe(error)) from None
            raise
        return _LocalFile(path, handle, info.st_size, datetime.fromtimestamp(info.st_mtime, timezone.utc))

    def _open_gcs(self, path: str, cache: StatusCache) -> tuple[Optional[_GcsFile], Optional[str]]:
        """The GCS object opened (metadata read) or None, with the problem met (None when simply absent)."""
        if cache.gcs_problem is not None:
            return None, f'skipped, GCS unavailable ({cache.gcs_problem})'
        bucket = self.bucket()
        if bucket is None:
            return None, self.client_error or 'GCS client unavailable'
        try:
            blob = bucket.get_blob(path, timeout=self.timeout, retry=None)
        except Exception as error:  # noqa: BLE001 - a failing backend counts as not having the file
            cache.mark_gcs_unavailable(describe(error))
            log.warning('GCS lookup of %s failed: %s', path, describe(error))
            return None, describe(error)
        return (_GcsFile(path, blob, self.timeout) if blob is not None else None), None

    def open(self, path: str, cache: Optional[StatusCache] = None) -> OpenedFile:
        """The file opened in the first backend that has it (local, then GCS).

        Raises UnsafePath, FileMissing (in no backend; ``problems`` says which backends failed) or
        FileUnreadable (the local file exists but cannot be read, and GCS does not have it either). GCS is not
        asked again when it already failed in this request (``cache``, default: the request's).
        """
        safe_relative(path)
        cache = cache if cache is not None else self.request_cache()
        problems: dict[str, str] = {}
        unreadable: Optional[FileUnreadable] = None
        try:
            opened: Optional[OpenedFile] = self._open_local(path)
        except FileUnreadable as error:
            opened, unreadable, problems[LOCAL] = None, error, error.reason
        if opened is None and self.gcs_configured:
            opened, problem = self._open_gcs(path, cache)
            if problem:
                problems[GCS] = problem
        if opened is not None:
            if unreadable is not None:
                log.warning('Reading %s from GCS: the local copy is unreadable (%s)', path, unreadable.reason)
            return opened
        if unreadable is not None:
            raise unreadable
        raise FileMissing(path, self.backends, problems)

    def read_bytes(self, path: str, max_bytes: int) -> bytes:
        """The whole content of a small file (local copy first, else GCS).

        Raises FileTooLarge (with the size, without reading the content) over ``max_bytes``, FileMissing when
        no backend can serve it (a GCS failure counts as absent; so does a file vanishing after a check),
        FileUnreadable when the local file cannot be read and GCS does not have it, UnsafePath.
        """
        if max_bytes < 0:
            raise ValueError('max_bytes must be 0 or more')
        opened = self.open(path)
        with opened:
            try:
                return opened.read_all(max_bytes)
            except FileMissing as error:  # vanished while being read
                raise FileMissing(path, self.backends, error.problems) from None
            except FileUnreadable as error:
                if error.backend == GCS:  # a GCS failure midway counts as absent, like any GCS failure
                    raise FileMissing(path, self.backends, {GCS: error.reason}) from None
                raise

    def open_lines(self, path: str, start: int = 0, max_line_bytes: int = MAX_LINE_BYTES,
                   chunk_size: Optional[int] = None) -> LineReader:
        """A :class:`LineReader` of ``path`` from byte offset ``start`` (with ``mtime``, ``size``, ``backend``).

        Memory stays bounded by the chunk size plus ``max_line_bytes`` whatever the file size. Use it as a
        context manager (or close it) when not iterating to the end. Raises like :meth:`open`; iterating raises
        FileMissing or FileUnreadable when the file vanishes or the backend fails midway.
        """
        return LineReader(self.open(path), start, max_line_bytes, chunk_size)

    def stream(self, path: str, start: int = 0, chunk_size: Optional[int] = None) -> ChunkStream:
        """A :class:`ChunkStream` of ``path`` (a streaming response body, closed when the response ends).

        Opening happens now, so a missing file raises FileMissing before any byte is sent.
        """
        return ChunkStream(self.open(path), start, chunk_size)

    # ----------------------------------------------------------------------------------- download URLs

    def gcs_signed_url(self, path: str, filename: str) -> Optional[str]:
        """A V4 signed GET URL of the object (offered as ``filename``), or None when the client cannot sign.

        The URL is valid ``url_minutes`` minutes. It does not check that the object exists (see
        :meth:`download_url`), and never writes to the bucket (the file name rides in the signed
        ``response-content-disposition`` parameter, unlike the legacy metadata PATCH).
        """
        safe_relative(path)
        disposition = content_disposition(filename)
        if not self.can_sign_urls:
            return None
        try:
            return self.bucket().blob(path).generate_signed_url(
                version='v4', method='GET', expiration=timedelta(minutes=self.url_minutes),
                response_disposition=disposition)
        except Exception as error:  # noqa: BLE001 - fall back to the API's own URL
            log.warning('Could not sign a GCS URL for %s: %s', path, describe(error))
            return None

    def download_url(self, status: ObjectStatus, filename: str, api_url: Callable[[str], str]) -> Optional[str]:
        """A verified download URL for a checked path, or None when it is missing.

        In GCS and the client can sign → a V4 signed GCS URL. Otherwise (only local, or GCS without signing
        credentials) → ``api_url(token)``, where ``token`` is a :mod:`mod_api.signing` download token for the
        path and file name; the caller's route verifies it and returns :meth:`stream`.
        """
        if not status.present:
            return None
        if status.in_gcs:
            url = self.gcs_signed_url(status.path, filename)
            if url:
                return url
        return api_url(self.signer.sign(status.path, filename))


def init_storage(app: Flask) -> Storage:
    """The Storage of ``app``, built from its resolved settings."""
    return Storage(app.config)
