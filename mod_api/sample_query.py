"""The contract's Sample documents: the list with its filters, one sample, in a constant number of queries.

Which samples. Every ``sample`` row whose stored ``sha`` is a SHA-256 digest (exactly 64 hexadecimal characters,
checked in SQL by :class:`IsSha256`). The contract requires ``sha256`` with that pattern, and ``sha256`` is the
stored value, never a recomputed one; a row holding anything else (the legacy installer's ``sample1``, NULL) cannot
be a valid Sample, so it is not listed, not counted, and ``GET /samples/{id}`` answers 404 for it with
``details.reason`` ``sha_not_sha256`` (its history stays available: history does not show the SHA).

Fields. ``name``: ``original_name``, cut to 255 characters. ``extension``: as stored (without dot), left out when
longer than the contract's 10 characters (a cut extension would name another type). ``tags``: tag names of at most
50 characters, the first 50 by name. ``notes``: the notes of the sample's upload (the first ``upload`` row by id),
cut to 1000 characters; null when it has no upload. ``media_info``: :mod:`mod_api.media_info`.

Filters, all combined with AND: ``status`` ``active`` when at least one regression test of the sample has
``active`` true (an EXISTS; a NULL flag is not active, as the platform's queueing treats it), else ``inactive``;
``name`` a substring of the original name and ``tag`` a whole tag name, both ignoring case like the run samples'
filters; ``sha256`` the whole stored SHA and ``extension`` the whole stored extension, both ignoring case. Order:
sample id ascending. A page costs :data:`LIST_QUERY_COUNT` queries, one sample :data:`SAMPLE_QUERY_COUNT`.
"""
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Select, exists, func, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Boolean

from mod_api.db import db
from mod_api.errors import ApiError
from mod_api.legacy import RegressionTest, Sample, Tag, Upload, sample_tag_association
from mod_api.media_info import load_media_info
from mod_api.sample_view import MAX_TAG, MAX_TAGS

MAX_NAME, MAX_EXTENSION, MAX_NOTES = 255, 10, 1000
LIST_QUERY_COUNT = 4  # count, page, tags, notes
SAMPLE_QUERY_COUNT = 3  # the sample, tags, notes
SAMPLE_COLUMNS = (Sample.id, Sample.sha, Sample.extension, Sample.original_name)


class IsSha256(FunctionElement[bool]):
    """The text is exactly 64 characters, all hexadecimal digits (either case); false for NULL."""

    type = Boolean()
    name = 'is_sha256'
    inherit_cache = True


@compiles(IsSha256, 'sqlite')
def _is_sha256_sqlite(element: IsSha256, compiler: Any, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    return f"(length({value}) = 64 AND {value} NOT GLOB '*[^0-9a-fA-F]*')"


@compiles(IsSha256)
def _is_sha256_mysql(element: IsSha256, compiler: Any, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)  # bytes: no collation folds a non-ASCII letter into a-f
    return f"(CHAR_LENGTH({value}) = 64 AND CAST({value} AS BINARY) NOT REGEXP '[^0-9a-fA-F]')"


@dataclass(frozen=True)
class SampleFilters:
    """The filters of ``GET /samples`` (None: not given)."""

    status: str | None = None
    name: str | None = None
    tag: str | None = None
    sha256: str | None = None
    extension: str | None = None


def is_active() -> ColumnElement[bool]:
    """The sample of the enclosing query is referenced by at least one active regression test."""
    return exists().where(RegressionTest.sample_id == Sample.id, RegressionTest.active == true())


def has_tag(name: str, sample_id: Any = Sample.id) -> ColumnElement[bool]:
    """The sample ``sample_id`` (a column of the enclosing query) has a tag named ``name`` (ignoring case)."""
    link = sample_tag_association
    return exists().where(link.c.sample_id == sample_id, Tag.id == link.c.tag_id, func.lower(Tag.name) == name.lower())


def _matching(filters: SampleFilters) -> Select:
    """The listable samples matching ``filters`` (SAMPLE_COLUMNS)."""
    statement = select(*SAMPLE_COLUMNS).where(IsSha256(Sample.sha))
    if filters.status is not None:
        statement = statement.where(is_active() if filters.status == 'active' else ~is_active())
    if filters.name is not None:
        statement = statement.where(func.lower(Sample.original_name).contains(filters.name.lower(), autoescape=True))
    if filters.tag is not None:
        statement = statement.where(has_tag(filters.tag))
    if filters.sha256 is not None:
        statement = statement.where(func.lower(Sample.sha) == filters.sha256.lower())
    if filters.extension is not None:
        statement = statement.where(func.lower(Sample.extension) == filters.extension.lower())
    return statement


def list_samples(filters: SampleFilters, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """A page of Samples matching ``filters`` by id, and how many match in all."""
    matching = _matching(filters)
    total = db.session.scalar(select(func.count()).select_from(matching.subquery('matching'))) or 0
    rows = db.session.execute(matching.order_by(Sample.id).limit(limit).offset(offset)).tuples().all()
    return documents(rows), total


def get_sample(sample_id: int) -> dict[str, Any]:
    """The Sample ``sample_id``; 404 when there is no such row or its stored SHA is not a SHA-256 digest."""
    row = db.session.execute(select(*SAMPLE_COLUMNS, IsSha256(Sample.sha)).where(Sample.id == sample_id)).first()
    if row is None:
        raise ApiError(404, 'not_found', f'Sample {sample_id} not found.', {'resource': 'sample', 'id': sample_id})
    if not row[4]:
        raise ApiError(404, 'not_found', f'Sample {sample_id} has no SHA-256 digest, so it is not an API sample.',
                       {'resource': 'sample', 'id': sample_id, 'reason': 'sha_not_sha256'})
    return documents([tuple(row[:4])])[0]


def documents(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Samples of rows (id, sha, extension, original name), in order: tags, notes and media info for all at once."""
    ids = [row[0] for row in rows]
    tags = _tags(ids)
    notes = _notes(ids)
    media = load_media_info(current_app.extensions['mod_api'].storage, {row[0]: row[1] for row in rows})
    found = []
    for sample_id, sha, extension, original_name in rows:
        document: dict[str, Any] = {'sample_id': sample_id, 'sha256': sha, 'name': (original_name or '')[:MAX_NAME]}
        if len(extension or '') <= MAX_EXTENSION:
            document['extension'] = extension or ''
        document['tags'] = list(tags.get(sample_id, ()))
        if sample_id in media:
            document['media_info'] = media[sample_id]
        document['notes'] = notes.get(sample_id)
        found.append(document)
    return found


def _tags(sample_ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """Tag names of each sample that fit the contract (at most 50 characters), the first 50 by name."""
    link = sample_tag_association
    names: dict[int, set[str]] = {}
    for sample_id, name in db.session.execute(
            select(link.c.sample_id, Tag.name).join(Tag, Tag.id == link.c.tag_id)
            .where(link.c.sample_id.in_(sample_ids))).tuples():
        if len(name) <= MAX_TAG:
            names.setdefault(sample_id, set()).add(name)
    return {sample_id: tuple(sorted(found)[:MAX_TAGS]) for sample_id, found in names.items()}


def _notes(sample_ids: Sequence[int]) -> dict[int, str]:
    """The notes of each sample's first upload by id, cut to the contract's 1000 characters."""
    notes: dict[int, str] = {}
    for sample_id, text in db.session.execute(
            select(Upload.sample_id, Upload.notes).where(Upload.sample_id.in_(sample_ids))
            .order_by(Upload.id.desc())).tuples():
        notes[sample_id] = (text or '')[:MAX_NOTES]  # descending: the first upload is written last and wins
    return notes
