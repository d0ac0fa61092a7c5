"""Builders for the samples, regression tests and sample history tests (runs come from :mod:`runs_data`).

Rows are added through the platform's models and flushed (ids known at once); commit when done. Files are written
into the app's local sample repository (``SAMPLE_REPOSITORY``).
"""
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import insert

from mod_api.db import db
from mod_api.legacy import Sample, Tag, Upload, sample_tag_association
from mod_api_tests import factories
from mod_api_tests.runs_data import store
from mod_upload.models import Platform

MEDIA_INFO = b"""<?xml version="1.0" encoding="UTF-8"?>
<Mediainfo version="0.7.91">
<File>
<track type="General">
<Format>MPEG-TS</Format>
<Duration>14s 14ms</Duration>
</track>
<track type="Text">
<ID>888</ID>
<Format>Teletext Subtitle</Format>
</track>
</File>
</Mediainfo>
"""
MEDIA_INFO_JSON = {'Mediainfo': {'@attributes': {'version': '0.7.91'}, 'File': {'track': [
    {'@attributes': {'type': 'General'}, 'Format': 'MPEG-TS', 'Duration': '14s 14ms'},
    {'@attributes': {'type': 'Text'}, 'ID': '888', 'Format': 'Teletext Subtitle'},
]}}}
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>&lol3;</lolz>
"""


def reader() -> dict[str, str]:
    """Headers of a plain user's token holding runs:read (commits the session first)."""
    db.session.commit()
    return factories.bearer(factories.make_token(factories.make_user('user'), ['runs:read']))


def add_tag(name: str) -> Tag:
    """A new tag."""
    tag = Tag(name)
    store(tag)
    return tag


def tag_sample(sample: Sample, *tags: Tag) -> None:
    """Put ``tags`` on ``sample`` (``sample_tag_association`` rows)."""
    db.session.execute(insert(sample_tag_association), [{'sample_id': sample.id, 'tag_id': tag.id} for tag in tags])


def add_upload(sample: Sample, notes: str = '') -> Upload:
    """An ``upload`` row of ``sample`` with these notes (no user, no version)."""
    upload = Upload(None, sample.id, None, Platform.linux, '', notes)
    store(upload)
    return upload


def repository(app: Flask | None = None) -> Path:
    """The local sample repository of ``app`` (default: the current app)."""
    return Path((app or current_app).config['SAMPLE_REPOSITORY'])


def write_file(relative: str, content: bytes, app: Flask | None = None) -> Path:
    """Write ``content`` at ``relative`` in the local sample repository (folders created)."""
    path = repository(app) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def write_media_info(sample: Sample, content: bytes = MEDIA_INFO, app: Flask | None = None) -> Path:
    """The media-info XML of ``sample`` in the local repository."""
    return write_file(f'TestFiles/media/{sample.sha}.xml', content, app)


def page_ids(body: dict[str, Any], key: str) -> list[Any]:
    """The ``key`` of every item of a page."""
    return [item[key] for item in body['data']]
