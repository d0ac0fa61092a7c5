"""JSON documents kept per worker while nothing they show has changed (issue #8): lists, histories, run documents.

Building a page of ``GET /runs`` sorts or filters every run and loads several rows per listed run, a page of
``GET /samples/{id}/history`` judges the sample in every run that has it, and a run's documents (detail, summary,
progress, samples, errors) load and judge its few hundred results: tens to hundreds of milliseconds on a
production-sized platform, for documents that consoles and agents poll again and again (the queue too, whose
blocking rows are read anew). So each worker keeps the last JSON bodies it built, each with the mark read before
building it (:func:`mod_api.status_store.change_mark` for lists, histories and the queue,
:func:`mod_api.status_store.run_mark` for a run's documents), and serves one again only while the database gives
the same mark (one query). The status triggers advance the marks on every change to any row such a document shows
(a run's legacy rows, its API record, its fork and starter, the catalogue), so a body served again is the body it
would build. Without usable stored rows (triggers missing, old rules) nothing is cached.

The key is the request's path, its host URL (the documents' links), its validated query and the host's UTC offset
(VM times are converted with it).
"""
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar, cast

from flask import Response, current_app, request

from mod_api import status_store
from mod_api.etag import tagged
from mod_api.run_view import local_utc_offset

CACHED_PAGES = 64  # a page of 100 runs is about 60 KB of JSON
CACHED_RUN_DOCUMENTS = 128  # most are a few KB; a page of 100 samples or errors is about 50 KB
CACHED_RUN_VALUES = 16  # a run's artifact candidates: about a thousand small objects, most shared between runs
T = TypeVar('T')


class PageCache:
    """The last :data:`CACHED_PAGES` bodies (or other values) by key, each with the mark it is valid for.

    Shared by a worker's threads.
    """

    def __init__(self, size: int = CACHED_PAGES) -> None:
        self.size = size
        self._pages: OrderedDict[Hashable, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, mark: Any) -> Any:
        """The value stored for ``key`` if it was stored with ``mark``, else None."""
        with self._lock:
            entry = self._pages.get(key)
            if entry is None or entry[0] != mark:
                return None
            self._pages.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, mark: Any, value: Any) -> None:
        """Keep ``value`` for ``key`` while the mark is ``mark``, dropping the least recently used one if full."""
        with self._lock:
            self._pages[key] = (mark, value)
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)

    def clear(self) -> None:
        """Forget every page (tests start each with an empty cache)."""
        with self._lock:
            self._pages.clear()


pages = PageCache()
run_documents = PageCache(CACHED_RUN_DOCUMENTS)
run_values = PageCache(CACHED_RUN_VALUES)


def cached_json(query: dict[str, Any], build: Callable[[bool], Any],
                unwatched: Callable[[], Hashable] | None = None) -> Response:
    """The JSON response of ``build(usable)`` for this request and ``query``, from :data:`pages` while it holds.

    ``usable``: :func:`mod_api.status_store.usable`'s answer, asked when the page is built (it may read stored
    rows, trusted only once every trigger is counted now, whatever the mark trusted); a page is kept only then.
    ``unwatched``: reads what the page shows of rows no trigger watches, as part of the mark (after it).
    """
    mark: Any = status_store.change_mark()
    if mark is not None and unwatched is not None:
        mark = (mark, unwatched())

    def built() -> tuple[Any, bool]:
        usable = mark is not None and status_store.usable()
        if usable:
            status_store.compact_change_log()  # only pages built after changes: the log grows with them
        return build(usable), usable
    return _served(pages, mark, query, built)


def cached_run_json(run_id: int, query: dict[str, Any], build: Callable[[], Any],
                    conditional: bool = False) -> Response:
    """The JSON response of ``build()``, a document of run ``run_id``, from :data:`run_documents` while it holds.

    ``conditional``: the response carries an ETag and answers ``If-None-Match`` (:func:`mod_api.etag.tagged`).
    ``build`` may raise an ApiError (no such run): nothing is kept then.
    """
    response = _served(run_documents, status_store.run_mark(run_id), query, lambda: (build(), True))
    return tagged(response) if conditional else response


def cached_run_value(run_id: int, name: str, build: Callable[[], T]) -> T:
    """``build()``: a value made of run ``run_id``'s rows and the catalogue alone, kept while the run's mark holds.

    For what a response needs besides such rows (the artifacts' storage checks): ``name`` tells the values of one
    run apart. ``build`` may raise an ApiError (no such run): nothing is kept then.
    """
    mark = status_store.run_mark(run_id)
    key = (name, run_id)
    value = run_values.get(key, mark) if mark is not None else None
    if value is None:
        value = build()
        if mark is not None:
            run_values.put(key, mark, value)
    return cast(T, value)


def _served(cache: PageCache, mark: Any, query: dict[str, Any], build: Callable[[], tuple[Any, bool]]) -> Response:
    """The body ``cache`` keeps for this request while ``mark`` (None: never) holds, else a new one.

    ``build()`` gives the payload and whether its body may be kept.
    """
    key = _key(query)
    body = cache.get(key, mark) if mark is not None else None
    if body is not None:
        return Response(body, mimetype='application/json')
    payload, keep = build()
    response = cast(Response, current_app.json.response(payload))
    if mark is not None and keep:
        cache.put(key, mark, response.get_data())
    return response


def _key(query: dict[str, Any]) -> Hashable:
    """What a body is kept by: the request's path and host URL, its validated query and the host's UTC offset."""
    return request.path, request.host_url, tuple(sorted(query.items())), local_utc_offset()
