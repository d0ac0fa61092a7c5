"""Run-list and sample-history pages kept per worker while nothing they show has changed (issue #8).

Building a page of ``GET /runs`` sorts or filters every run and loads several rows per listed run, and a page of
``GET /samples/{id}/history`` judges the sample in every run that has it: tens to hundreds of milliseconds on a
production-sized platform, for pages that consoles and agents poll again and again. So each worker keeps the last
:data:`CACHED_PAGES` JSON bodies it built, each with the :func:`mod_api.status_store.change_mark` read before
building it, and serves one again only while the database gives the same mark (one query). The status triggers
advance the mark on every change to any row such a page shows (a run's legacy rows, its API record, its fork and
starter, the catalogue its verdicts and scope derive from, which sample a regression test is of), so a page served
again is the page it would build. Without usable stored rows (triggers missing, old rules) nothing is cached.

The key is the request's path, its host URL (the documents' links), its validated query and the host's UTC offset
(VM times are converted with it).
"""
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, cast

from flask import Response, current_app, request

from mod_api import status_store
from mod_api.run_view import local_utc_offset

CACHED_PAGES = 64  # a page of 100 runs is about 60 KB of JSON


class PageCache:
    """The last :data:`CACHED_PAGES` bodies by key, each with the mark it is valid for (shared by threads)."""

    def __init__(self, size: int = CACHED_PAGES) -> None:
        self.size = size
        self._pages: OrderedDict[Hashable, tuple[Any, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, mark: Any) -> bytes | None:
        """The body stored for ``key`` if it was stored with ``mark``."""
        with self._lock:
            entry = self._pages.get(key)
            if entry is None or entry[0] != mark:
                return None
            self._pages.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, mark: Any, body: bytes) -> None:
        """Keep ``body`` for ``key`` while the mark is ``mark``, dropping the least recently used page if full."""
        with self._lock:
            self._pages[key] = (mark, body)
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)

    def clear(self) -> None:
        """Forget every page (tests start each with an empty cache)."""
        with self._lock:
            self._pages.clear()


pages = PageCache()


def cached_json(query: dict[str, Any], build: Callable[[bool], Any]) -> Response:
    """The JSON response of ``build(usable)`` for this request and ``query``, from :data:`pages` while it holds.

    ``usable``: :func:`mod_api.status_store.usable`'s answer, which the change mark's query gave.
    """
    mark = status_store.change_mark()
    key = (request.path, request.host_url, tuple(sorted(query.items())), local_utc_offset())
    body = pages.get(key, mark) if mark is not None else None
    if body is not None:
        return Response(body, mimetype='application/json')
    response = cast(Response, current_app.json.response(build(mark is not None)))
    if mark is not None:
        pages.put(key, mark, response.get_data())
    return response
