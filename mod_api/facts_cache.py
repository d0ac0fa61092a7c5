"""A per-process cache of runs' judged facts, used only while the rows they were built from are unchanged.

Judging a big run (a few hundred samples) costs far more in Python than in the database: fetching, assembling and
judging its rows is most of a run read (issue #8). So a worker keeps the last :data:`CACHED_RUNS` runs it judged,
each with a **digest of every row its facts are built from**, and reuses an entry only when the database gives the
same digest again, in the request's own transaction: one SELECT (:func:`digests`) instead of
``run_data.QUERY_COUNT``.

The digest covers the run's ``test_progress``, ``gcp_instance``, ``test_result``, ``test_result_file`` and
``customized_test`` rows, and the catalogue every run is judged against: ``regression_test_output``, its variants
(``regression_test_output_files``) and the categorised regression tests (category links and category ids); the
API's cancel record is part of the key.
Per table it is the row count and two sums of differently salted CRC-32s of each row's values (order-free, so the
same on SQLite and MariaDB, and cheap: MD5 cost five times as much on the production-sized catalogue), so any insert,
delete or change of a column the derivation reads — a cancel, a late worker report, an approved baseline, a
re-categorised test — gives another digest, short of a change that leaves both 32-bit sums and the count equal.
Nothing is ever invalidated by hand, and several workers need no coordination.

One run judged alone (its documents, results, diffs, log pages) is keyed by its mark instead
(``status_store.run_mark``: the epoch, the catalogue version and the run's version: one indexed read, where the
digests took about 8 ms on the benchmark's dataset). The stored statuses' triggers move it on every change
of a row the digest covers, but for a variant whose hash is no ``got`` of the run, which cannot change how the run
is judged. While those triggers are not usable (one missing, an old rules version) the mark is None, and such a run
is judged without the cache; a trigger lost meanwhile is noticed within ``status_store.TRIGGER_CHECK_SECONDS``, as
for the pages served again (docs/stored-statuses.md, Limits).
"""
import functools
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from typing import Any

from flask import Flask
from sqlalchemy import (
    BigInteger,
    BindParameter,
    CompoundSelect,
    Select,
    bindparam,
    event,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from mod_api.db import db
from mod_api.legacy import (
    Category,
    CustomizedTest,
    GcpInstance,
    RegressionTestOutput,
    RegressionTestOutputFiles,
    TestProgress,
    TestResult,
    TestResultFile,
    regressionTestLinkTable,
)
from mod_api.verdicts import RunFacts, RunVerdict

CACHED_RUNS = 32  # about 0.3 MB per judged run of 600 samples
SQLITE_FUNCTION = 'mod_api_row_hash'
SALTS = ('a', 'b')  # two differently salted CRC-32 sums per table
Judged = tuple[RunFacts, RunVerdict]
Digest = tuple[Any, ...]


class RowHash(FunctionElement[int]):
    """``RowHash(salt, *columns)``: the CRC-32 of the salt and the row's values (NULL told apart from any value)."""

    type = BigInteger()
    inherit_cache = True


@compiles(RowHash, 'mysql')
def _mysql_row_hash(element: RowHash, compiler: Any, **kw: Any) -> str:
    values = ', '.join(f'IFNULL({compiler.process(column, **kw)}, CHAR(30))' for column in element.clauses)
    return f'CRC32(CONCAT_WS(CHAR(31), {values}))'


@compiles(RowHash)
def _other_row_hash(element: RowHash, compiler: Any, **kw: Any) -> str:
    return f'{SQLITE_FUNCTION}({compiler.process(element.clauses, **kw)})'


def sqlite_row_hash(*values: Any) -> int:
    """SQLite's ``mod_api_row_hash`` (registered on each connection): plays :class:`RowHash`'s part on MariaDB.

    The values differ from MariaDB's (Python's ``str`` of each value, not MariaDB's casts), which is harmless: a
    worker only ever compares digests read from its own database.
    """
    return zlib.crc32('\x1f'.join('\x1e' if value is None else str(value) for value in values).encode())


def install(app: Flask) -> None:
    """On SQLite, register :func:`sqlite_row_hash` on each new connection of ``app``'s engine (MariaDB has MD5)."""
    with app.app_context():
        if db.engine.dialect.name == 'sqlite':
            event.listen(db.engine, 'connect', _register_sqlite_function)


def _register_sqlite_function(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.create_function(SQLITE_FUNCTION, -1, sqlite_row_hash, deterministic=True)


def _table_digest(name: str, run_column: Any, *columns: Any) -> Select:
    """Per run (or once, for a catalogue table: ``run_column`` None): the table's name, count and two hash sums."""
    run = run_column if run_column is not None else null()
    statement = select(literal(name), run, func.count(),
                       *(func.sum(RowHash(literal(salt), *columns)) for salt in SALTS))
    return statement.group_by(run_column) if run_column is not None else statement


@functools.cache
def _digest_statement() -> CompoundSelect:
    """The SELECT of :func:`digests`, built once (its run ids are the expanding parameter ``run_ids``)."""
    run_ids: BindParameter[list[int]] = bindparam('run_ids', expanding=True)
    link = regressionTestLinkTable
    return union_all(
        _table_digest('progress', TestProgress.test_id, TestProgress.id, TestProgress.status, TestProgress.timestamp,
                      TestProgress.message).where(TestProgress.test_id.in_(run_ids)),
        _table_digest('vm', GcpInstance.test_id, GcpInstance.test_id).where(GcpInstance.test_id.in_(run_ids)),
        _table_digest('result', TestResult.test_id, TestResult.regression_test_id, TestResult.runtime,
                      TestResult.exit_code, TestResult.expected_rc).where(TestResult.test_id.in_(run_ids)),
        _table_digest('file', TestResultFile.test_id, TestResultFile.regression_test_id,
                      TestResultFile.regression_test_output_id, TestResultFile.got)
        .where(TestResultFile.test_id.in_(run_ids)),
        _table_digest('customized', CustomizedTest.test_id, CustomizedTest.regression_id)
        .where(CustomizedTest.test_id.in_(run_ids)),
        _table_digest('output', None, RegressionTestOutput.id, RegressionTestOutput.regression_id,
                      RegressionTestOutput.correct, RegressionTestOutput.ignore),
        _table_digest('variant', None, RegressionTestOutputFiles.regression_test_output_id,
                      RegressionTestOutputFiles.file_hashes),
        # the categorised tests are these links joined to the categories: both digested, no join needed
        _table_digest('category link', None, link.c.regression_id, link.c.category_id),
        _table_digest('category', None, Category.id))


def digests(run_ids: Sequence[int]) -> dict[int, Digest]:
    """The digest of each run of ``run_ids`` (its own rows and the catalogue's), in one SELECT."""
    own: dict[int, list[tuple[Any, ...]]] = {run_id: [] for run_id in run_ids}
    catalogue = []
    for name, run_id, count, first, second in db.session.execute(_digest_statement(),
                                                                 {'run_ids': list(run_ids)}).tuples():
        line = (name, count, int(first or 0), int(second or 0))
        if run_id is None:
            catalogue.append(line)
        elif run_id in own:
            own[run_id].append(line)
    return {run_id: tuple(sorted(lines)) + tuple(sorted(catalogue)) for run_id, lines in own.items()}


def states(run_ids: Sequence[int]) -> dict[int, Digest]:
    """What the cache entry of each run is keyed by, in one query; a run left out is not to be cached.

    One run: its mark (``status_store.run_mark``), which its triggers move on every change of a row the digest
    covers (the run's own rows, the catalogue) and which costs a fraction of the digest to read; none when stored
    statuses are not usable (a trigger missing). Several runs: their digests.
    """
    from mod_api import status_store  # it imports run_query, which imports (through run_view) this module
    if len(run_ids) == 1:
        mark = status_store.run_mark(run_ids[0])
        return {} if mark is None else {run_ids[0]: ('mark', *mark)}
    return {run_id: ('digest', *digest) for run_id, digest in digests(run_ids).items()}


class FactsCache:
    """Judged runs by (run id, cancel record, digest); least recently used entries go first. Thread-safe."""

    def __init__(self, size: int = CACHED_RUNS) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[Any, ...], Judged] = OrderedDict()
        self._lock = threading.Lock()

    def judged(self, run_ids: Sequence[int], api_cancel_row_ids: Collection[int],
               load: Callable[[list[int]], dict[int, Judged]]) -> dict[int, Judged]:
        """The judged facts of ``run_ids``: from the cache where the key (:func:`states`) matches, else ``load``."""
        cancels = frozenset(api_cancel_row_ids)
        keys = {run_id: (run_id, cancels, state) for run_id, state in states(run_ids).items()}
        with self._lock:
            found = {run_id: self._entries[key] for run_id, key in keys.items() if key in self._entries}
            for run_id in found:
                self._entries.move_to_end(keys[run_id])
        missing = [run_id for run_id in run_ids if run_id not in found]
        loaded = load(missing) if missing else {}
        with self._lock:
            for run_id, judged in loaded.items():
                if run_id in keys:
                    self._entries[keys[run_id]] = judged
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return {**found, **loaded}

    def clear(self) -> None:
        """Forget every entry (tests start from an empty cache, so their query counts do not depend on order)."""
        with self._lock:
            self._entries.clear()


cache = FactsCache()
